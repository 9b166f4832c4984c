"""`pedigree init` and `pedigree stage add` through the CLI: text, --json, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pedigree.cli.main import main


def _bare(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)  # git and dvc init are the integration test's business
    (root / ".dvc").mkdir()
    return root


def test_init_text_then_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _bare(tmp_path)
    assert main(["init", str(root), "--name", "demo"]) == 0
    out = capsys.readouterr().out
    assert "created pipelines/demo.yaml" in out and "ran     pedigree compile" in out
    assert main(["init", str(root), "--name", "demo"]) == 0
    out = capsys.readouterr().out
    assert "kept    pipelines/demo.yaml (exists)" in out
    assert "nothing to do: the project is already initialised" in out
    assert "created" not in out


def test_init_default_name_and_relative_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _bare(tmp_path)
    (root.parent / "My Stuff").mkdir()
    (root.parent / "My Stuff" / ".git").mkdir()
    (root.parent / "My Stuff" / ".dvc").mkdir()
    assert main(["-C", str(root.parent), "init", "My Stuff", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pipeline"] == "my-stuff"
    assert out["root"] == str((root.parent / "My Stuff").resolve())
    assert "pipelines/my-stuff.yaml" in out["created"] and out["kept"] == []


def test_init_bad_name_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "p"), "--name", "Not_OK"]) == 2
    err = capsys.readouterr().err
    assert "'Not_OK' is not a valid pipeline name" in err and "hint:" in err


def test_stage_add_json_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _bare(tmp_path)
    assert main(["init", str(root), "--name", "demo"]) == 0
    capsys.readouterr()
    assert main(["-C", str(root), "stage", "add", "fit", "--after", "hello", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["stage"] == "fit" and out["deps"] == ["data/hello"]
    assert "stages/fit/__main__.py" in out["created"]
    assert out["spec"] == "pipelines/demo.yaml"
    assert main(["-C", str(root), "stage", "add", "fit"]) == 2
    assert "stage 'fit' is already in pipelines/demo.yaml" in capsys.readouterr().err
    assert main(["-C", str(root), "validate"]) == 0
    assert "with 2 stages" in capsys.readouterr().out


def test_stage_add_outside_a_project_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-C", str(tmp_path), "stage", "add", "x"]) == 2
    assert "no pedigree project" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["init", "--help"], ["stage", "add", "--help"], ["lock", "--help"]]
)
def test_help_has_examples(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Example" in out and f"pedigree {' '.join(argv[:-1])}" in out
