"""What a stage's container sees: the mount, the network."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pedigree.containers.workspace import network_mode, stage_needs_network, workspace_mounts

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
DVC_YAML = """\
stages:
  ingest:
    cmd: python -m stages.ingest
    params: [ingest]
  train:
    cmd: python -m stages.train
    params: [model.depth, {other.yaml: [remote.url]}]
  bare:
    cmd: python -m stages.bare
"""


def git(cwd: Path, *args: str) -> None:
    subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def project(root: Path, params: str, other: str = "remote:\n  url: none\n") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_text(params)
    (root / "other.yaml").write_text(other)
    return root


def test_outside_git_the_project_is_the_mount(tmp_path: Path) -> None:
    mounts = workspace_mounts(tmp_path)
    assert (mounts.source, mounts.workdir, mounts.extra) == (tmp_path.resolve(), "/workspace", ())


def test_a_project_inside_a_repository_mounts_the_repository(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "pets").mkdir()
    mounts = workspace_mounts(tmp_path / "pets")
    assert (mounts.source, mounts.workdir, mounts.extra) == (
        tmp_path.resolve(),
        "/workspace/pets",
        (),
    )


def test_a_worktree_also_gets_its_common_git_folder(tmp_path: Path) -> None:
    main = tmp_path / "main"
    main.mkdir()
    git(main, "init", "-q")
    git(main, "commit", "-q", "--allow-empty", "-m", "first")
    git(main, "worktree", "add", "-q", str(tmp_path / "wt"))
    mounts = workspace_mounts(tmp_path / "wt")
    assert mounts.source == (tmp_path / "wt").resolve()
    assert mounts.extra == ((main / ".git").resolve(),)


def test_a_url_param_gives_the_stage_the_network(tmp_path: Path) -> None:
    root = project(tmp_path, "ingest:\n  source: https://example.org/pets.tar.gz\n")
    assert stage_needs_network(root, "ingest", {}) is True
    assert network_mode(root, "ingest", {}) is None  # the engine's default network


def test_local_sources_run_without_network(tmp_path: Path) -> None:
    root = project(tmp_path, "ingest:\n  source: synthetic\n  sizes: [1, 2]\nmodel:\n  depth: 2\n")
    assert network_mode(root, "ingest", {}) == "none"
    assert network_mode(root, "train", {}) == "none"
    assert network_mode(root, "bare", {}) == "none"
    assert network_mode(root, "not-in-dvc-yaml", {}) == "none"


def test_dotted_keys_and_other_params_files_count(tmp_path: Path) -> None:
    root = project(tmp_path, "model:\n  depth: 2\n", other="remote:\n  url: s3://bucket/x\n")
    assert stage_needs_network(root, "train", {}) is True


def test_lineage_events_over_http_need_the_network(tmp_path: Path) -> None:
    root = project(tmp_path, "ingest:\n  source: synthetic\n")
    url = {"OPENLINEAGE_URL": "http://marquez:5000"}
    assert stage_needs_network(root, "ingest", url) is True
    assert stage_needs_network(root, "ingest", {**url, "OPENLINEAGE_DISABLED": "true"}) is False


def test_the_network_can_be_chosen(tmp_path: Path) -> None:
    root = project(tmp_path, "ingest:\n  source: https://example.org/x.tar.gz\n")
    assert network_mode(root, "ingest", {"PEDIGREE_CONTAINER_NETWORK": "none"}) == "none"
    assert network_mode(root, "bare", {"PEDIGREE_CONTAINER_NETWORK": "host"}) == "host"


def test_an_unreadable_params_file_leaves_the_network_off(tmp_path: Path) -> None:
    root = project(tmp_path, "ingest: [unclosed\n")
    assert network_mode(root, "ingest", {}) == "none"
