"""The same project, the same answers: from any folder of it, and with -C (absolute or relative)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pedigree.cli.main import main
from pedigree.errors import ProjectError
from pedigree.project import find_root, open_project

SPEC = """\
apiVersion: pedigree/v1
kind: Pipeline
metadata:
  name: {name}
spec:
  inputs: [data/source.txt]
  stages:
    - name: steady
      cmd: [python, -m, stages.steady]
      deps: [data/source.txt]
      outs: [data/steady]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pipelines").mkdir(parents=True)
    (root / "pipelines" / "one.yaml").write_text(SPEC.format(name="one"))
    (root / "pipelines" / "two.yaml").write_text(SPEC.format(name="two"))
    (root / "stages" / "steady").mkdir(parents=True)
    (root / "stages" / "__init__.py").write_text("")
    (root / "stages" / "steady" / "__main__.py").write_text("print('x')\n")
    (root / "images" / "steady").mkdir(parents=True)
    (root / "images" / "steady" / "requirements.lock").write_text("pyyaml==6.0.3\n")
    (root / "data").mkdir()
    (root / "data" / "source.txt").write_text("a\n")
    (root / "params.yaml").write_text("{}\n")
    return root


def test_the_root_is_absolute_and_resolved_from_any_folder(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project / "stages" / "steady")
    assert find_root(Path(".")) == project.resolve()
    assert find_root(Path("../../data")) == project.resolve()
    assert open_project(Path("."), "../../pipelines/one.yaml").root.is_absolute()


def test_a_relative_spec_is_relative_to_the_start_folder_not_the_process_cwd(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # elsewhere: must not matter
    opened = open_project(project / "data", "../pipelines/two.yaml")
    assert opened.spec_path == "pipelines/two.yaml"
    assert open_project(project, "pipelines/one.yaml").spec_path == "pipelines/one.yaml"
    with pytest.raises(ProjectError, match=r"spec \.\./\.\./x\.yaml is outside the project"):
        open_project(project / "data", "../../x.yaml")


def test_a_symlinked_start_folder_finds_the_same_root(project: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(project / "data", target_is_directory=True)
    assert find_root(link) == project.resolve()


def test_no_project_above_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="no pedigree project at or above .*pipelines/"):
        find_root(tmp_path)


def _validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main([*args])
    return code, json.loads(capsys.readouterr().out)


def test_cli_spec_paths_follow_the_folder_it_runs_in_or_dash_c(
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(project / "data")
    assert _validate(capsys, "validate", "--json", "../pipelines/two.yaml") == (
        0,
        {"ok": True, "pipeline": "two", "stages": ["steady"]},
    )
    monkeypatch.chdir(tmp_path)
    # -C relative to where pedigree starts; the spec relative to -C (as if started there).
    assert _validate(capsys, "-C", "proj/stages", "validate", "--json", "../pipelines/one.yaml")[1][
        "pipeline"
    ] == ("one")
    assert _validate(capsys, "-C", "proj", "compile", "--json", "--spec", "pipelines/two.yaml") == (
        0,
        {"target": "dvc", "path": str(project.resolve() / "dvc.yaml"), "changed": True},
    )
    assert "two" in (project / "dvc.yaml").read_text().splitlines()[0]


def test_cli_rejects_a_dash_c_folder_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-C", str(tmp_path / "nope"), "validate"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_opts_project_is_absolute(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project / "stages")
    # Several specs and none named: the same located answer from the root and from a subfolder.
    assert main(["check", "--no-env"]) == 2
    from_sub = capsys.readouterr().err
    assert main(["-C", str(project), "check", "--no-env"]) == 2
    assert capsys.readouterr().err == from_sub
    assert "several pipeline specs (one.yaml, two.yaml)" in from_sub
