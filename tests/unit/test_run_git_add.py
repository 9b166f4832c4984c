"""`pedigree run`'s "record this run in git" hint names exactly what git shows changed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pedigree.api.main import _git_add_hint

PARAMS = "release:\n  registry: registry/demo\n"


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for rel, text in {
        "params.yaml": PARAMS,
        "dvc.lock": "schema: '2.0'\n",
        "lineage/train.json": "{}\n",
        "registry/demo/README.md": "log\n",
        "cluster-conf/serving/demo.yaml": "kind: Deployment\n",
        "models/.gitignore": "/model\n",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    return tmp_path


DVC_HINT = "git add dvc.lock models/.gitignore lineage"


def test_nothing_changed_means_no_hint(repo: Path) -> None:
    assert _git_add_hint(repo, DVC_HINT) is None


def test_only_what_changed_is_named_with_the_registry_and_manifest(repo: Path) -> None:
    (repo / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    (repo / "lineage" / "train.json").write_text('{"run": 2}\n')
    (repo / "registry" / "demo" / "events").mkdir()
    (repo / "registry" / "demo" / "events" / "e.json").write_text("{}\n")
    (repo / "cluster-conf" / "serving" / "demo.yaml").write_text("kind: Deployment # v2\n")
    hint = _git_add_hint(repo, DVC_HINT)
    assert hint == "git add dvc.lock lineage cluster-conf/serving registry/demo"


def test_an_unchanged_registry_is_not_named(repo: Path) -> None:
    (repo / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    assert _git_add_hint(repo, DVC_HINT) == "git add dvc.lock"


def test_outside_git_every_path_is_named(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(PARAMS)
    (tmp_path / "registry" / "demo").mkdir(parents=True)
    assert _git_add_hint(tmp_path, "git add dvc.lock lineage") == (
        "git add dvc.lock lineage registry/demo"
    )
