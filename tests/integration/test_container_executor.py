"""`pedigree run --executor podman|docker` through real dvc and git.

The first tests put a fake engine on PATH (tests/support/fake_engine.py): it records its argv
and runs the inner launcher on the host, so the whole path api.run -> dvc -> launcher ->
"engine" -> inner launcher runs here without a container engine. The last tests use a real
engine and the real images; they skip, saying why, where either is missing.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from pedigree import __version__
from pedigree.containers import image_ref
from pedigree.containers.engine import EngineError, find_engine, missing_images
from pedigree.dvclock import read_lock_stages
from tests.integration.conftest import (
    make_demo_project,
    make_pets_project,
    pedigree,
    run_outcomes,
    set_params,
)
from tests.support import fake_engine

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two-stage demo project, run once with the process executor and committed."""
    return make_demo_project(tmp_path_factory.mktemp("containers") / "demo")


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(demo_template, target, symlinks=True)
    return target


@pytest.fixture
def engine_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake podman and docker first on PATH; the file their calls are recorded in."""
    bin_dir = fake_engine.install(tmp_path / "engine-bin")
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ.get("PATH", ""))
    log = tmp_path / "engine.log"
    monkeypatch.setenv("FAKE_ENGINE_LOG", str(log))
    for name in ("FAKE_ENGINE_MISSING", "FAKE_ENGINE_BROKEN", "PEDIGREE_EXECUTOR"):
        monkeypatch.delenv(name, raising=False)
    return log


def runs(log: Path) -> list[list[str]]:
    return [call for call in fake_engine.calls(log) if call[0] == "run"]


def outs(root: Path, stage: str) -> list[dict]:
    return read_lock_stages(root / "dvc.lock")[stage]["outs"]


def test_each_stage_runs_in_its_image_with_the_same_outputs(demo: Path, engine_log: Path) -> None:
    dvc_yaml = (demo / "dvc.yaml").read_text()
    before = outs(demo, "steady")
    assert run_outcomes(demo, "--executor", "podman", "--force") == {
        "steady": "ran",
        "noisy": "ran",
    }
    calls = runs(engine_log)
    assert [call[call.index("--stage") + 1] for call in calls] == ["steady", "noisy"]
    steady = calls[0]
    assert steady[steady.index("--volume") + 1] == f"{demo.resolve()}:/workspace"
    assert steady[steady.index("--network") + 1] == "none"
    assert "--read-only" in steady and "--pull=never" in steady
    # dvc.yaml is the same whatever the executor; the deterministic stage's outputs too
    assert (demo / "dvc.yaml").read_text() == dvc_yaml
    assert outs(demo, "steady") == before
    record = json.loads((demo / "lineage" / "steady.json").read_text())
    ref = image_ref("steady")
    assert record["environment"]["container"] == {
        "image": ref,
        "digest": fake_engine._digest("digest", ref),
    }
    # outputs and cache are shared: the process executor finds nothing to do
    assert run_outcomes(demo) == {"steady": "skipped", "noisy": "skipped"}


def test_the_executor_can_come_from_the_environment(
    demo: Path, engine_log: Path, monkeypatch
) -> None:
    monkeypatch.setenv("PEDIGREE_EXECUTOR", "docker")
    assert run_outcomes(demo, "--stage", "steady", "--force") == {"steady": "ran"}
    assert len(runs(engine_log)) == 1


def test_a_missing_image_stops_the_run_before_anything_runs(
    demo: Path, engine_log: Path, monkeypatch
) -> None:
    monkeypatch.setenv("FAKE_ENGINE_MISSING", f"pedigree/noisy:{__version__}")
    result = pedigree(demo, "run", "--executor", "podman", "--force", check=False)
    assert result.returncode == 4
    assert f"podman has no image for 1 stage(s): pedigree/noisy:{__version__}" in result.stderr
    assert "make images ENGINE=podman" in result.stderr
    assert runs(engine_log) == []


def test_an_engine_that_does_not_work(demo: Path, engine_log: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_ENGINE_BROKEN", "1")
    result = pedigree(demo, "run", "--executor", "docker", "--force", check=False)
    assert result.returncode == 4
    assert "docker is installed but does not work" in result.stderr


def test_a_failing_stage_fails_as_without_a_container(demo: Path, engine_log: Path) -> None:
    set_params(demo, {"steady": {"factor": "three"}})
    result = pedigree(demo, "run", "--executor", "podman", check=False)
    assert result.returncode == 1
    assert "stage 'steady' failed (exit code 1)" in result.stderr
    assert "TypeError" in result.stderr  # the log's tail, written inside the "container"


# --- a real engine -----------------------------------------------------------------------------


def _real_engine_or_skip() -> str:
    try:
        engine = find_engine()
    except EngineError as exc:
        pytest.skip(exc.message)
    missing = missing_images(engine, [image_ref("base"), image_ref("ingest")])
    if missing:
        pytest.skip(
            f"{engine.name} has no {', '.join(missing)}: build them with "
            f"`make images ENGINE={engine.name} ONLY=base,ingest`"
        )
    return engine.name


@pytest.fixture
def real_engine(monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("PEDIGREE_EXECUTOR", "PEDIGREE_IN_CONTAINER"):
        monkeypatch.delenv(name, raising=False)
    return _real_engine_or_skip()


def test_ingest_in_a_real_container_matches_the_process_executor(
    real_engine: str, tmp_path: Path
) -> None:
    here = make_pets_project(tmp_path / "process")
    there = make_pets_project(tmp_path / "container")
    assert run_outcomes(here, "--stage", "ingest") == {"ingest": "ran"}
    assert run_outcomes(there, "--stage", "ingest", "--executor", real_engine) == {"ingest": "ran"}
    assert outs(there, "ingest") == outs(here, "ingest")
    record = json.loads((there / "lineage" / "ingest.json").read_text())
    container = record["environment"]["container"]
    assert container["image"] == image_ref("ingest")
    assert container["digest"].startswith("sha256:")
    assert record["code"]["git_commit"]  # git works in the image
    manifest = there / "data" / "raw" / "manifest.json"
    assert manifest.stat().st_uid == os.getuid()
    assert (
        json.loads((here / "lineage" / "ingest.json").read_text())["environment"].get("container")
        is None
    )


def test_the_cluster_step_runs_in_the_stage_image_as_a_pod_would(
    real_engine: str, tmp_path: Path
) -> None:
    """What an Argo step does, in the real image under the WorkflowTemplate's pod security:
    uid 10001, read-only root with a /tmp volume, no capabilities, no network; the project
    checked out at /workspace and the DVC remote reachable (here a mounted folder)."""
    import subprocess

    from tests.integration.conftest import sh

    here = make_pets_project(tmp_path / "process")
    assert run_outcomes(here, "--stage", "ingest") == {"ingest": "ran"}
    pod = tmp_path / "pod"
    sh(tmp_path, "git", "clone", "-q", str(make_pets_project(tmp_path / "origin")), str(pod))
    remote = tmp_path / "remote"
    remote.mkdir()
    for path in (pod, remote, *pod.rglob("*"), *remote.rglob("*")):
        path.chmod(0o777 if path.is_dir() else 0o666)  # as fsGroup makes them writable
    result = subprocess.run(
        [
            real_engine, "run", "--rm", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", "--user", "10001:10001", "--network", "none",
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
            "--volume", f"{pod}:/workspace", "--volume", f"{remote}:/remote",
            "--env", "PEDIGREE_REMOTE=/remote", "--env", "PEDIGREE_WORKFLOW=pets-pod01",
            "--env", "HOME=/tmp", image_ref("ingest"),
            "/opt/pedigree/runner/bin/python", "-m", "pedigree.cluster.step", "--stage", "ingest",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "step ingest: done" in result.stderr
    # The image's runner (dvc) and stage environment gave the process executor's bytes, and the
    # outputs, run-cache and record reached the remote.
    assert outs(pod, "ingest") == outs(here, "ingest")
    assert list((remote / "runs").rglob("*")) and list((remote / "files").rglob("*"))
    records = list((remote / "pedigree" / "lineage" / "pets-pod01" / "ingest").glob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["status"] == "succeeded" and record["code"]["git_commit"]
