"""The container executor: the engine command it builds, what it passes in, and its errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pedigree.containers import executor
from pedigree.containers.engine import Engine, ImageInfo, ImageMissingError
from pedigree.containers.workspace import Mounts
from pedigree.lineage import capture
from tests.support import fake_engine

PODMAN = Engine("podman", ("/usr/bin/podman",), rootless=False)
IMAGE = ImageInfo("pedigree/ingest:0.1.0", "sha256:" + "1" * 64, "sha256:" + "2" * 64)


def container_run(engine: Engine = PODMAN, **changes) -> executor.ContainerRun:
    fields = {
        "engine": engine,
        "stage": "ingest",
        "argv": ("python", "-m", "stages.ingest", "--out", "data/raw"),
        "image": IMAGE,
        "mounts": Mounts(Path("/home/ana/pets"), "/workspace"),
        "network": "none",
        "env_names": ("PEDIGREE_IMAGE", "PEDIGREE_IMAGE_DIGEST", "PEDIGREE_IN_CONTAINER"),
        "name": "pedigree-ingest-abc",
        "uid": 1000,
        "gid": 1000,
    }
    fields.update(changes)
    return executor.ContainerRun(**fields)


def test_the_run_command_for_a_rootful_engine() -> None:
    assert executor.run_argv(container_run()) == [
        "/usr/bin/podman",
        "run",
        "--rm",
        "--pull=never",
        "--name",
        "pedigree-ingest-abc",
        "--read-only",
        "--tmpfs",
        "/tmp:rw,nosuid,nodev,mode=1777",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        "--network",
        "none",
        "--user",
        "1000:1000",
        "--volume",
        "/home/ana/pets:/workspace",
        "--workdir",
        "/workspace",
        "--env",
        "PEDIGREE_IMAGE",
        "--env",
        "PEDIGREE_IMAGE_DIGEST",
        "--env",
        "PEDIGREE_IN_CONTAINER",
        "sha256:" + "1" * 64,
        "python",
        "-m",
        "pedigree.launch",
        "--stage",
        "ingest",
        "--",
        "python",
        "-m",
        "stages.ingest",
        "--out",
        "data/raw",
    ]


def test_rootless_podman_keeps_the_user_id() -> None:
    argv = executor.run_argv(container_run(Engine("podman", ("podman",), rootless=True)))
    assert "--userns=keep-id" in argv and "--user" not in argv


def test_rootless_docker_runs_as_container_root_which_is_the_user() -> None:
    argv = executor.run_argv(container_run(Engine("docker", ("docker",), rootless=True)))
    assert argv[argv.index("--user") + 1] == "0:0"


def test_the_engine_default_network_when_the_stage_needs_one() -> None:
    assert "--network" not in executor.run_argv(container_run(network=None))


def test_git_folders_outside_the_mount_are_mounted_read_only() -> None:
    mounts = Mounts(Path("/src/wt"), "/workspace/pets", (Path("/src/main/.git"),))
    argv = executor.run_argv(container_run(mounts=mounts))
    assert argv[argv.index("--workdir") + 1] == "/workspace/pets"
    assert "/src/main/.git:/src/main/.git:ro" in argv


def test_container_environment_passes_settings_by_name_only() -> None:
    host = {
        "PATH": "/usr/bin",
        "HOME": "/home/ana",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "PEDIGREE_STAGE_OUTPUT": "log",
        "PEDIGREE_EXECUTOR": "podman",
        "PEDIGREE_LINEAGE_STATE": "/x.json",
        "OPENLINEAGE_API_KEY": "key",
        "OMP_NUM_THREADS": "2",
    }
    client, names = executor.container_env(host, IMAGE)
    assert names == (
        "OMP_NUM_THREADS",
        "OPENLINEAGE_API_KEY",
        "PEDIGREE_IMAGE",
        "PEDIGREE_IMAGE_DIGEST",
        "PEDIGREE_IN_CONTAINER",
        "PEDIGREE_STAGE_OUTPUT",
    )
    assert client["PEDIGREE_IMAGE"] == "pedigree/ingest:0.1.0"
    assert client["PEDIGREE_IMAGE_DIGEST"] == "sha256:" + "2" * 64
    assert client["PEDIGREE_IN_CONTAINER"] == "1"
    assert client["PATH"] == "/usr/bin"  # the engine client itself still runs on the host
    argv = executor.run_argv(container_run(env_names=names))
    assert "key" not in argv and "secret" not in " ".join(argv)


def test_the_variables_are_the_ones_lineage_reads() -> None:
    assert (executor.IMAGE_ENV, executor.DIGEST_ENV) == (capture.IMAGE_ENV, capture.DIGEST_ENV)


def test_check_ready_names_every_missing_image(engine, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_ENGINE_MISSING", "pedigree/train:0.1.0")
    with pytest.raises(
        ImageMissingError, match=r"podman has no image for 1 stage\(s\): pedigree/train:0\.1\.0"
    ) as caught:
        executor.check_ready("podman", ["ingest", "train"])
    assert "make images ENGINE=podman" in str(caught.value.hint)
    assert executor.check_ready("podman", ["ingest"]).name == "podman"


def test_executor_environment_is_restored(monkeypatch) -> None:
    monkeypatch.setenv("PEDIGREE_EXECUTOR", "docker")
    with executor.executor_environment("podman"):
        assert os.environ["PEDIGREE_EXECUTOR"] == "podman"
    assert os.environ["PEDIGREE_EXECUTOR"] == "docker"


def _log(root: Path) -> str:
    return (root / ".pedigree" / "logs" / "ingest.log").read_text()


def test_a_missing_image_fails_the_stage_and_says_so_in_its_log(
    engine, monkeypatch, tmp_path: Path, capsys
) -> None:
    monkeypatch.setenv("FAKE_ENGINE_MISSING", "pedigree/ingest:0.1.0")
    code = executor.run_in_container("ingest", ["python", "-c", "pass"], tmp_path, "podman")
    assert code == executor.ENGINE_FAILED
    expected = "image pedigree/ingest:0.1.0 is not in podman's image store"
    assert expected in _log(tmp_path) and "make images ENGINE=podman" in _log(tmp_path)
    assert expected in capsys.readouterr().err
    assert not any(call[0] == "run" for call in engine.calls())


def test_no_engine_fails_the_stage(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code = executor.run_in_container("ingest", ["true"], tmp_path, "docker")
    assert code == executor.ENGINE_FAILED
    assert "no working container engine: docker is not installed" in _log(tmp_path)


def test_an_engine_failure_is_kept_in_the_log(engine, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FAKE_ENGINE_RUN_FAIL", "OCI runtime error: setrlimit")
    code = executor.run_in_container("ingest", ["true"], tmp_path, "podman")
    assert code == 125
    assert "Error: OCI runtime error: setrlimit" in _log(tmp_path)


def test_the_inner_launcher_runs_the_stage_and_its_exit_code_passes_through(
    engine, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PEDIGREE_LINEAGE", "off")  # no dvc.yaml here: only the run matters
    monkeypatch.delenv("PEDIGREE_IN_CONTAINER", raising=False)
    code = "import os; print(os.environ['PEDIGREE_IMAGE'], os.environ['PEDIGREE_IN_CONTAINER']); raise SystemExit(7)"
    assert executor.run_in_container("ingest", ["python", "-c", code], tmp_path, "podman") == 7
    assert "pedigree/ingest:0.1.0 1" in _log(tmp_path)
    run = next(call for call in engine.calls() if call[0] == "run")
    assert run[run.index("--volume") + 1] == f"{tmp_path.resolve()}:/workspace"
    assert run[run.index("--user") + 1] == f"{os.getuid()}:{os.getgid()}"
    assert run[run.index(fake_engine._digest("id", "pedigree/ingest:0.1.0")) + 1 :][:6] == [
        "python",
        "-m",
        "pedigree.launch",
        "--stage",
        "ingest",
        "--",
    ]
