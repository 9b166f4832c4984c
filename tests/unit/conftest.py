"""Fixtures shared by unit tests in several folders (cli/, cluster/, the API tests)."""

from __future__ import annotations

import json
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
