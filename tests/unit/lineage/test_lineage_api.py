"""`pedigree.api.lineage.lineage` and the `pedigree lineage` command on the tiny project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pedigree.api.lineage import lineage, project_path
from pedigree.cli.main import main
from pedigree.lineage.store import LineageError
from tests.unit.lineage.conftest import RUN_IDS, TinyProject


def test_paths_are_taken_relative_to_the_start_folder(tiny: TinyProject) -> None:
    root = tiny.root.resolve()
    assert project_path(root, root, "./models/../models/model.keras") == "models/model.keras"
    assert project_path(root, root / "data", "prepared/train") == "data/prepared/train"
    assert project_path(root, root, str(root / "data" / "raw")) == "data/raw"
    with pytest.raises(LineageError, match=r"'\.\./x' is not inside the project at "):
        project_path(root, root, "../x")


def test_lineage_renders_each_format(tiny: TinyProject) -> None:
    tree = lineage(tiny.root, "models/model.keras")
    assert tree.fmt == "tree" and tree.lineage.stage == "train"
    assert tree.text.startswith("models/model.keras  made by stage train\n")
    assert json.loads(lineage(tiny.root, "models/model.keras", "json").text)["stage"] == "train"
    assert lineage(tiny.root, "models/model.keras", "dot").text.startswith("digraph lineage {")
    assert "activity" in json.loads(lineage(tiny.root, "models/model.keras", "prov").text)
    events = [
        json.loads(line)
        for line in lineage(tiny.root, "models/model.keras", "openlineage").text.splitlines()
    ]
    # Oldest run first, START then COMPLETE for each.
    assert [(e["run"]["runId"], e["eventType"]) for e in events] == [
        (RUN_IDS[stage], kind)
        for stage in ("ingest", "transform", "train")
        for kind in ("START", "COMPLETE")
    ]


def test_unknown_format_and_missing_lock_are_user_errors(tiny: TinyProject) -> None:
    with pytest.raises(LineageError, match="unknown lineage format 'svg'"):
        lineage(tiny.root, "models/model.keras", "svg")
    (tiny.root / "dvc.lock").unlink()
    with pytest.raises(LineageError, match="dvc.lock has no stages: nothing has run in "):
        lineage(tiny.root, "models/model.keras")


def test_cli_prints_the_rendering_and_maps_errors_to_exit_2(
    tiny: TinyProject, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-C", str(tiny.root), "lineage", "models/model.keras", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["target"] == "models/model.keras"

    assert main(["-C", str(tiny.root), "lineage", "nope/x"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: 'nope/x' is not an output of any stage")

    assert main(["-C", str(tiny.root), "lineage", "nope/x", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["exit_code"] == 2


def test_cli_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lineage", "--help"]) == 0
    out = capsys.readouterr().out
    assert "  Examples:\n    pedigree lineage models/model.keras\n" in out
    assert "--format [tree|json|openlineage|prov|dot]" in out


def test_cli_from_a_subfolder(tiny: TinyProject, capsys: pytest.CaptureFixture[str]) -> None:
    start = Path(tiny.root) / "data"
    assert main(["-C", str(start), "lineage", "prepared/train", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["output"] == "data/prepared"
