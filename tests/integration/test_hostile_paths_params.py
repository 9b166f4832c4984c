"""Refused before anything runs, with real dvc and git: a stage path that a symlink takes out of the
project (validate, compile, run, verify, pull), and a params value the stage's own model refuses
(check, status, run --dry-run, run), each located (exit 2)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from pedigree.spec.params_check import CACHE
from tests.integration.conftest import (
    init_repos,
    pedigree,
    run_and_commit,
    write_small_project,
)

pytestmark = pytest.mark.integration

SPEC = """\
apiVersion: pedigree/v1
kind: Pipeline
metadata:
  name: tiny
spec:
  stages:
    - name: steady
      cmd: [python, -m, stages.steady]
      params: [steady]
      outs: [data/out/steady.txt]
"""
STAGE = """\
import pathlib, yaml
factor = yaml.safe_load(pathlib.Path("params.yaml").read_text())["steady"]["factor"]
out = pathlib.Path("data/out"); out.mkdir(parents=True, exist_ok=True)
(out / "steady.txt").write_text("x" * factor)
"""
PARAMS_MODULE = """\
from pydantic import BaseModel, ConfigDict, Field


class SteadyParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    factor: int = Field(ge=1, le=100)


PARAMS = {"steady": SteadyParams}
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-stage project with a params module, run once and committed."""
    root = tmp_path_factory.mktemp("hostile") / "tiny"
    code = {"__init__.py": "", "__main__.py": STAGE, "params.py": PARAMS_MODULE}
    write_small_project(root, SPEC, "steady:\n  factor: 2\n", {"steady": code})
    return run_and_commit(init_repos(root))


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "tiny"
    shutil.copytree(template, target, symlinks=True)
    return target


def _refused(root: Path, *args: str) -> str:
    result = pedigree(root, *args, check=False)
    assert result.returncode == 2, (args, result.returncode, result.stdout, result.stderr)
    return result.stderr


def test_a_symlink_out_of_the_project_is_refused_everywhere(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.rmtree(project / "data" / "out")
    os.symlink(outside, project / "data" / "out")
    lock_before = (project / "dvc.lock").read_text()
    named = f"data/out is a symlink to {outside}, outside the project: stage 'steady' outs "
    spec_error = (
        f"pipelines/tiny.yaml:10 [spec.stages[0].outs[0]]: {named}"
        "'data/out/steady.txt' would be written there"
    )
    for args in (("validate",), ("compile",), ("run", "--stage", "steady")):
        assert spec_error in _refused(project, *args), args
    # dvc.yaml is current: `run` takes its fast path, `verify` works from dvc.yaml alone
    for args in (("run",), ("run", "--dry-run"), ("verify", "--all")):
        assert "dvc.yaml:11 [stages.steady.outs[0]]: " + named in _refused(project, *args), args
    assert spec_error in _refused(project, "pull", "tiny-abc12", "--offline")
    assert list(outside.iterdir()) == []
    assert (project / "dvc.lock").read_text() == lock_before


def test_bad_params_are_refused_before_anything_runs(project: Path) -> None:
    lock_before = (project / "dvc.lock").read_text()
    (project / "params.yaml").write_text("steady:\n  factor: big\n")
    for args in (("check", "--no-env"), ("run", "--dry-run")):
        assert "params.yaml:2 [steady.factor]: Input should be a valid integer" in _refused(
            project, *args
        ), args
    (project / "params.yaml").write_text("steady:\n  factor: -1\n")
    for args in (("status",), ("run",), ("validate",)):
        assert (
            "params.yaml:2 [steady.factor]: Input should be greater than or equal to 1 (got -1) "
            "(hint: fix the value in params.yaml; stages/steady/params.py (SteadyParams)"
            in _refused(project, *args)
        ), args
    assert (project / "data" / "out" / "steady.txt").read_text() == "xx"
    assert (project / "dvc.lock").read_text() == lock_before
    # Fixed: the run goes ahead, and its clean check is remembered for the next no-op run.
    (project / "params.yaml").write_text("steady:\n  factor: 3\n")
    result = pedigree(project, "run", "--json")
    outcomes = {s["stage"]: s["outcome"] for s in json.loads(result.stdout)["stages"]}
    assert outcomes == {"steady": "ran"}
    assert (project / "data" / "out" / "steady.txt").read_text() == "xxx"
    assert (project / CACHE).is_file()
