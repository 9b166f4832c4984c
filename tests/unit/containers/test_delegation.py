"""The stage launcher hands a stage to the container executor only when asked, and never from
inside a container."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def launch(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "PEDIGREE_IN_CONTAINER"}
    full.update(PEDIGREE_LINEAGE="off", **env)
    argv = [sys.executable, "-m", "pedigree.launch", "--stage", "demo", "--"]
    return subprocess.run(
        [*argv, "python", "-c", "print('stage ran')"],
        cwd=tmp_path,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("executor", ["podman", "docker"])
def test_an_engine_executor_runs_the_stage_through_the_engine(
    engine, tmp_path: Path, executor: str
) -> None:
    result = launch(tmp_path, PEDIGREE_EXECUTOR=executor)
    assert result.returncode == 0, result.stderr
    assert "stage ran" in result.stdout
    runs = [call for call in engine.calls() if call[0] == "run"]
    assert len(runs) == 1
    inner = ["python", "-m", "pedigree.launch", "--stage", "demo", "--"]
    assert runs[0][-9:] == [*inner, "python", "-c", "print('stage ran')"]
    assert engine.calls()[0] == ["info", "--format", engine_query(executor)]


def engine_query(executor: str) -> str:
    return "{{.Host.Security.Rootless}}" if executor == "podman" else "{{json .SecurityOptions}}"


@pytest.mark.parametrize(
    "env",
    [
        {"PEDIGREE_EXECUTOR": "process"},
        {"PEDIGREE_EXECUTOR": ""},
        {"PEDIGREE_EXECUTOR": "podman", "PEDIGREE_IN_CONTAINER": "1"},
    ],
)
def test_the_stage_runs_here(engine, tmp_path: Path, env: dict[str, str]) -> None:
    result = launch(tmp_path, **env)
    assert result.returncode == 0 and "stage ran" in result.stdout
    assert engine.calls() == []


def test_an_unknown_executor_fails_the_stage_with_a_reason(engine, tmp_path: Path) -> None:
    result = launch(tmp_path, PEDIGREE_EXECUTOR="lxc")
    assert result.returncode == 125
    assert "unknown container engine 'lxc'" in result.stderr
    assert "unknown container engine 'lxc'" in (tmp_path / ".pedigree/logs/demo.log").read_text()
