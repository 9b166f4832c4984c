"""Fixtures shared by unit tests in several folders (cli/, cluster/, the API tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import kmock
import pytest

from pedigree.cli.main import main
from tests.unit.cluster.kube_mock import MockArgo, use_mock


@pytest.fixture
def argo(
    kmock: kmock.KubernetesEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> MockArgo:
    """A mock Kubernetes API server with Argo's Workflow kind, and a kubeconfig pointing at it."""
    use_mock(monkeypatch, tmp_path, kmock.url)
    return MockArgo(kmock)


@pytest.fixture
def checked(project: Path) -> Path:
    """A project whose dvc.yaml and locks pass `check --no-env`."""
    (project / "images" / "requirements.lock").write_text("pyyaml==6.0.3 \\\n", encoding="utf-8")
    assert main(["-C", str(project), "compile"]) == 0
    return project


def check_items(project: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    """`pedigree check --no-env --json`: its exit code and its items by name."""
    capsys.readouterr()
    code = main(["-C", str(project), "check", "--no-env", "--json"])
    data = json.loads(capsys.readouterr().out)
    return code, {c["name"]: c for c in data["checks"]}


def launch_demo_stage(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m pedigree.launch --stage demo -- python stage.py` in `root`, as DVC runs it:
    lineage on and the process executor, whatever the test session's environment says."""
    full = dict(os.environ)
    full.pop("PEDIGREE_LINEAGE", None)
    full.pop("PEDIGREE_EXECUTOR", None)
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pedigree.launch", "--stage", "demo", "--", "python", "stage.py"],
        cwd=root,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )
