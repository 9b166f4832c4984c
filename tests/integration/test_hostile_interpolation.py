"""A spec cannot smuggle a shell command through DVC's `${...}` interpolation (issue 12).

DVC replaces `${note}` in dvc.yaml with params.yaml's `note` before the shell runs the command,
inside shell quotes too. The control test shows the attack is real with real dvc; the others show
that `pedigree validate`, `compile` and `run` refuse such a spec (exit 2) and nothing runs.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.integration.conftest import BIN, init_repos, pedigree, sh, write_small_project

pytestmark = pytest.mark.integration

SPEC = """\
apiVersion: pedigree/v1
kind: Pipeline
metadata:
  name: hostile
spec:
  stages:
    - name: hello
      cmd: {cmd}
      params: [hello]
      outs: [data/hello.txt]
"""
HELLO = """\
import pathlib, sys
pathlib.Path("data").mkdir(exist_ok=True)
pathlib.Path("data/hello.txt").write_text(" ".join(sys.argv[1:]))
"""


def _project(root: Path, cmd: list[str], marker: Path) -> Path:
    """A one-stage project, git and dvc initialised; params.yaml's `note` would create `marker`."""
    note = f"x'; touch {shlex.quote(str(marker))}; echo '"
    params = json.dumps({"note": note, "hello": {"n": 1}}) + "\n"
    write_small_project(
        root, SPEC.format(cmd=json.dumps(cmd)), params, {"hello": {"__main__.py": HELLO}}
    )
    return init_repos(root)


def test_the_attack_is_real_when_dvc_yaml_carries_the_interpolation(tmp_path: Path) -> None:
    """Control: a quoted `${note}` in a hand-written dvc.yaml runs params.yaml's shell text."""
    marker = tmp_path / "pwned"
    root = _project(tmp_path / "p", ["python", "-m", "stages.hello"], marker)
    cmd = shlex.join(["python", "-m", "stages.hello", "${note}"])  # what quoting alone gives
    (root / "dvc.yaml").write_text(
        json.dumps({"stages": {"hello": {"cmd": cmd, "outs": ["data/hello.txt"]}}})
    )
    sh(root, str(BIN / "dvc"), "repro", "-q", check=False)
    assert marker.exists()


@pytest.mark.parametrize(
    "cmd",
    [
        ["python", "-m", "stages.hello", "${note}"],
        ["python", "-m", "stages.hello", "--note=${note}"],
        ["python", "-m", "stages.hello", "${ note }"],
    ],
)
def test_pedigree_refuses_a_spec_with_interpolation(tmp_path: Path, cmd: list[str]) -> None:
    marker = tmp_path / "pwned"
    root = _project(tmp_path / "p", cmd, marker)
    for args in (("validate",), ("compile", "--target", "dvc"), ("run",)):
        result = pedigree(root, *args, check=False)
        output = result.stdout + result.stderr
        assert result.returncode == 2, (args, output)
        assert "pipelines/hostile.yaml:8 [spec.stages[0].cmd[3]]" in output, output
        assert "contains '${'" in output and "--params, params.yaml" in output, output
    assert not (root / "dvc.yaml").exists()
    assert not (root / "data").exists()
    assert not marker.exists()


def test_the_same_project_without_interpolation_runs(tmp_path: Path) -> None:
    """The refusal is about `${`, not the project: a literal argument runs and stays literal."""
    marker = tmp_path / "pwned"
    literal = "x'; touch $MARKER; echo `id` $(id) '"
    root = _project(tmp_path / "p", ["python", "-m", "stages.hello", literal], marker)
    pedigree(root, "run")
    assert (root / "data" / "hello.txt").read_text() == literal
    assert not marker.exists()
