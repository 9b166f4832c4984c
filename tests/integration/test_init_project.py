"""`pedigree init` then `pedigree run` in an empty folder, with the real console script, git
and dvc: the project runs, is up to date, has lineage, passes check, and grows a stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import pedigree, run_outcomes, sh

pytestmark = pytest.mark.integration


def test_init_run_status_lineage_check_and_grow(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    out = pedigree(tmp_path, "init", "fresh", "--name", "demo").stdout
    assert "ran     git init" in out and "ran     dvc init" in out
    assert run_outcomes(root) == {"hello": "ran"}
    summary = json.loads((root / "data/hello/summary.json").read_text())
    assert summary["message"] == "hello from hello"
    status = json.loads(pedigree(root, "status", "--json").stdout)
    assert status["up_to_date"] is True
    assert pedigree(root, "check").returncode == 0

    tree = pedigree(root, "lineage", "data/hello").stdout
    assert "params:  hello.message=" in tree
    assert "tensorflow" not in tree and "keras" not in tree  # not this stage's packages

    # Everything to commit is visible to git, nothing generated is ignored by mistake.
    untracked = sh(root, "git", "status", "--porcelain", "--untracked-files=all").stdout
    for rel in ("pipelines/demo.yaml", "dvc.yaml", "dvc.lock", "params.yaml", ".gitignore"):
        assert rel in untracked, rel
    assert "data/hello/summary.json" not in untracked  # DVC's, not git's
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", "start")

    # init again: a no-op that keeps every file.
    again = pedigree(tmp_path, "init", "fresh", "--name", "demo").stdout
    assert "nothing to do" in again
    assert sh(root, "git", "status", "--porcelain").stdout == ""

    pedigree(root, "stage", "add", "report", "--after", "hello")
    assert run_outcomes(root) == {"hello": "skipped", "report": "ran"}
    report = json.loads((root / "data/report/summary.json").read_text())
    assert list(report["inputs"]) == ["data/hello"]
    assert pedigree(root, "check").returncode == 0
