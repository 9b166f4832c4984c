"""Check (a), graph hygiene: the layout comes from the pipeline; each leak is named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from pedigree.api import main as api
from pedigree.audit.graph_hygiene import check_graph, reached_splits, violations
from pedigree.audit.layout import NotApplicable, derive_layout
from pedigree.lineage.record import Artifact
from pedigree.lineage.store import write_record
from tests.unit.audit.conftest import LAYOUT, RUNS, Run, build, make_record, spec_text


def graph(root: Path):  # noqa: ANN201 - a CheckResult
    loaded = api.load(root)
    return check_graph(root, loaded.spec, "pipelines/pets.yaml", derive_layout(root, loaded.spec))


def test_layout_comes_from_the_spec_params_and_splits_json(audited: Path) -> None:
    layout = derive_layout(audited, api.load(audited).spec)
    assert layout == LAYOUT
    assert layout.split_path("test") == "data/prepared/test"
    assert layout.stats_path == "data/prepared/stats.json"


def test_a_clean_pipeline_passes(audited: Path) -> None:
    result = graph(audited)
    assert result.ok, result.findings
    assert "test reaches only evaluate" in result.summary
    assert "calibration reaches only calibrate, evaluate" in result.summary
    assert "tune sees only train, validation" in result.summary
    assert "2 lineage records" in result.summary


def test_tune_on_the_whole_prepared_folder_reaches_both_held_out_splits(tmp_path: Path) -> None:
    root = build(tmp_path / "p", spec_text(tune="[data/prepared]"))
    result = graph(root)
    assert not result.ok
    (finding,) = result.findings
    assert finding.message.startswith("stage 'tune' depends on 'data/prepared': ")
    assert "the test split (data/prepared/test), which may reach only evaluate" in finding.message
    assert "calibration split (data/prepared/calibration)" in finding.message
    assert finding.where == "pipelines/pets.yaml"
    assert "replace 'data/prepared' in the deps of 'tune'" in finding.fix
    assert "data/prepared/train, data/prepared/validation, data/prepared/stats.json" in finding.fix


def test_calibrate_on_the_test_split_is_caught(tmp_path: Path) -> None:
    deps = "[data/prepared/calibration, data/prepared/test, data/prepared/stats.json]"
    root = build(tmp_path / "p", spec_text(calibrate=deps))
    (finding,) = graph(root).findings
    assert finding.message == (
        "stage 'calibrate' depends on 'data/prepared/test': it holds the test split "
        "(data/prepared/test), which may reach only evaluate"
    )


def test_the_split_folders_follow_the_spec(tmp_path: Path) -> None:
    calibrate = "[data/ready/calibration, data/ready/stats.json]"
    spec = spec_text(tune="[data/ready]", calibrate=calibrate, prepared="data/ready")
    root = build(tmp_path / "p", spec)
    (root / "data" / "prepared").rename(root / "data" / "ready")
    (finding,) = graph(root).findings
    assert "the test split (data/ready/test)" in finding.message


def test_a_hand_edited_dvc_yaml_is_caught_and_the_fix_is_to_recompile(audited: Path) -> None:
    (audited / "dvc.yaml").write_text(
        "stages:\n  calibrate:\n    cmd: x\n    deps:\n    - stages/calibrate\n"
        "    - data/prepared/test\n",
        encoding="utf-8",
    )
    (finding,) = graph(audited).findings
    assert finding.where == "dvc.yaml"
    assert "stage 'calibrate' depends on 'data/prepared/test'" in finding.message
    assert "pedigree compile --target dvc" in finding.fix


def test_what_a_run_really_read_is_checked_too(audited: Path) -> None:
    run = Run("tune", ("data/prepared/test",), {}, ("data/prepared/train",))
    write_record(audited, make_record(audited, run))
    (finding,) = graph(audited).findings
    assert finding.where == "lineage/tune.json"
    assert "stage 'tune' depends on 'data/prepared/test'" in finding.message
    assert "pedigree run --stage tune --force" in finding.fix


def test_code_inputs_of_a_record_are_not_data(audited: Path) -> None:
    code = Artifact(path="stages/tune", md5="x.dir", size=1, kind="code")
    record = make_record(audited, RUNS[0]).model_copy(update={"stage": "tune", "inputs": [code]})
    write_record(audited, record)
    assert graph(audited).ok


@pytest.mark.parametrize(
    ("stage", "dep", "expected"),
    [
        ("transform", "data/raw", []),  # the producer reads everything by definition
        ("evaluate", "data/prepared", []),  # evaluate may read calibration and test
        ("calibrate", "data/prepared", ["test split"]),
        ("evaluate", "data/prepared/test", []),
        ("calibrate", "data/prepared/calibration/index.json", []),
        ("calibrate", "data", ["test split"]),  # a parent of data/prepared
        ("train", "data/raw", ["calibration split", "test split"]),  # every split's source
        ("tune", "data/prepared/splits.json", ["may read only"]),
        ("tune", "data/prepared/stats.json", []),
        ("tune", "models/other", []),
    ],
)
def test_what_reaches_a_held_out_split(stage: str, dep: str, expected: list[str]) -> None:
    reasons = violations(stage, dep, LAYOUT)
    assert len(reasons) == len(expected), reasons
    for reason, text in zip(reasons, expected, strict=True):
        assert text in reason


def test_reached_splits() -> None:
    assert reached_splits("data/prepared/test/shard-00000.tfrecord", LAYOUT) == ("test",)
    assert reached_splits("data/prepared", LAYOUT) == LAYOUT.splits
    assert reached_splits("data/raw/images", LAYOUT) == LAYOUT.splits
    assert reached_splits("data/prepared/stats.json", LAYOUT) == ()


def test_a_renamed_producer_and_folder_move_the_layout(tmp_path: Path) -> None:
    spec = spec_text(
        tune="[data/splits/train, data/splits/validation, data/splits/stats.json]",
        calibrate="[data/splits/calibration, data/splits/stats.json]",
        prepared="data/splits",
    )
    for old in ("name: transform", "stages.transform", "stage: transform"):
        spec = spec.replace(old, old.replace("transform", "prepare"))
    root = build(tmp_path / "p", spec, ("ingest", "prepare", "tune", "calibrate", "evaluate"))
    layout = derive_layout(root, api.load(root).spec)
    assert (layout.producer, layout.prepared, layout.group_key) == (
        "prepare",
        "data/splits",
        "animal_id",
    )
    assert layout.stats_path == "data/splits/stats.json"
    assert layout.held_out == {"test": ("evaluate",), "calibration": ("calibrate", "evaluate")}


def test_no_data_section_is_not_applicable(tmp_path: Path) -> None:
    spec = spec_text().split("  data:\n")[0]
    root = build(tmp_path / "p", spec, ("ingest", "transform", "tune", "calibrate", "evaluate"))
    with pytest.raises(NotApplicable, match="cannot apply: the spec declares no data splits"):
        derive_layout(root, api.load(root).spec)
