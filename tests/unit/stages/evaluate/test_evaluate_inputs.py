"""Reading upstream files, provenance, report tables and the `evaluate` params."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pedigree.errors import ParamsError, SourceError
from pedigree.stagekit import load_params
from stages.evaluate import provenance, tables
from stages.evaluate.inputs import (
    check_train_dir,
    read_calibration,
    read_history,
    read_train_summary,
)
from stages.evaluate.params import EvaluateParams
from tests.unit.stages.evaluate.conftest import (
    LOCK,
    evaluate_params,
    write_calibration,
    write_train_dir,
)

ROOT = Path(__file__).resolve().parents[4]


def test_read_calibration(tmp_path: Path) -> None:
    cal = read_calibration(write_calibration(tmp_path / "c.json", temperature=2))
    assert cal.temperature == 2.0 and cal.doc["ece"]["after"] == 0.05


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (None, r"c\.json is missing"),
        ("[1, 2]", r"no positive finite 'temperature' \(got None\)"),
        ('{"temperature": 0}', r"no positive finite 'temperature' \(got 0\)"),
        ('{"temperature": "1.5"}', r"no positive finite 'temperature' \(got '1\.5'\)"),
        ('{"temperature": Infinity}', r"no positive finite 'temperature' \(got inf\)"),
    ],
)
def test_bad_calibration_files(tmp_path: Path, text: str | None, match: str) -> None:
    path = tmp_path / "c.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(SourceError, match=match):
        read_calibration(path)


def test_read_train_files(tmp_path: Path) -> None:
    folder = write_train_dir(tmp_path / "train")
    check_train_dir(folder)
    history = read_history(folder / "history.csv")
    assert history[0] == {"epoch": 1, "loss": 1.2, "val_loss": 1.1, "val_mean_iou": 0.31}
    assert history[-1]["val_mean_iou"] is None  # an empty cell
    assert read_train_summary(folder / "train.json")["parameters"] == 12345


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        (
            "history.csv",
            "epoch,loss\n1,0.5\n",
            r"has no column\(s\) \['val_loss', 'val_mean_iou'\]",
        ),
        ("history.csv", "epoch,loss,val_loss,val_mean_iou\n", r"history\.csv has no epochs"),
        ("history.csv", "epoch,loss,val_loss,val_mean_iou\n1,x,1,1\n", r"not a number"),
        ("train.json", '{"model": {}}', r"train\.json has no \['hyperparameters', 'train'\]"),
        ("train.json", "nope", r"train\.json is not valid JSON"),
    ],
)
def test_bad_train_files(tmp_path: Path, name: str, content: str, match: str) -> None:
    folder = write_train_dir(tmp_path / "train")
    (folder / name).write_text(content)
    with pytest.raises(SourceError, match=match):
        check_train_dir(folder)


def test_params(tmp_path: Path) -> None:
    params = load_params("evaluate", EvaluateParams, evaluate_params(tmp_path / "params.yaml"))
    assert (params.batch_size, params.bins, params.examples) == (4, 10, 2)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"batch_size": 0}, r"params\.yaml:\d+ \[evaluate\.batch_size\]"),
        ({"bins": "true"}, r"\[evaluate\.bins\]"),
        ({"bins": 1}, r"\[evaluate\.bins\]"),
        ({"examples": 2.0}, r"\[evaluate\.examples\]"),
        ({"examples": 17}, r"\[evaluate\.examples\].*less than or equal to 16"),
    ],
)
def test_bad_params(tmp_path: Path, overrides: dict[str, object], match: str) -> None:
    path = evaluate_params(tmp_path / "params.yaml", **overrides)
    with pytest.raises(ParamsError, match=match):
        load_params("evaluate", EvaluateParams, path)


INPUTS = [
    "models/model.keras",
    "models/calibration/calibration.json",
    "data/prepared",
    "models/train",
]


def test_lock_outputs(tmp_path: Path) -> None:
    assert provenance.lock_outputs(tmp_path / "dvc.lock", INPUTS) == provenance.LockOutputs(
        [], "no dvc.lock yet"
    )
    (tmp_path / "dvc.lock").write_text(LOCK)
    lock = provenance.lock_outputs(tmp_path / "dvc.lock", INPUTS)
    assert lock.note is None
    assert lock.rows[0] == ("train", "models/model.keras", "fedcba9876543210fedcba9876543210")
    assert [r[0] for r in lock.rows] == ["train", "train", "transform"]
    (tmp_path / "dvc.lock").write_text("stages: [unclosed")
    assert "not readable YAML" in (
        provenance.lock_outputs(tmp_path / "dvc.lock", INPUTS).note or ""
    )


def test_lock_outputs_keeps_only_what_the_report_reads(tmp_path: Path) -> None:
    # evaluate's own entry (from the previous run) and release's must not reach the report:
    # they would make its bytes depend on the history of dvc.lock.
    own = "  evaluate:\n    outs:\n    - path: reports/evaluation.json\n      md5: 11111111111111111111111111111111\n"
    (tmp_path / "dvc.lock").write_text(LOCK + own)
    lock = provenance.lock_outputs(
        tmp_path / "dvc.lock", ["models/model.keras", "data/prepared/test"]
    )
    assert [(r[0], r[1]) for r in lock.rows] == [
        ("train", "models/model.keras"),
        ("transform", "data/prepared"),
    ]


def test_artefact_hashes(tmp_path: Path) -> None:
    (tmp_path / "prepared" / "test").mkdir(parents=True)
    (tmp_path / "prepared" / "test" / "index.json").write_text("{}")
    (tmp_path / "m").write_bytes(b"m")
    (tmp_path / "c").write_bytes(b"c")
    hashes = provenance.artefact_hashes(
        str(tmp_path / "m"), str(tmp_path / "c"), str(tmp_path / "prepared")
    )
    assert hashes["test_split"]["path"] == f"{tmp_path}/prepared/test"
    assert all(len(h["sha256"]) == 64 for h in hashes.values())


def test_markdown_tables() -> None:
    table = tables.markdown_table(("a", "b"), [("x|y", 0.5), (None, True)])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 0.500000 |", "| n/a | yes |"]
    env = {k: "v" for k in ("python", "platform", "tensorflow", "keras", "numpy", "matplotlib")}
    text = tables.provenance_markdown(
        provenance.LockOutputs([], "no dvc.lock yet"),
        {"model": {"path": "m", "sha256": "ab" * 32}},
        env,
        {"seed": 1},
        "python3",
    )
    assert "_no dvc.lock yet_" in text and "| determinism: seed | 1 |" in text
    assert "git commit" in text and "pedigree lineage reports/evaluation.json" in text
    doc = {"model": {"sha256": "0123456789abcdef" * 4}, "metrics": json.loads(METRICS)}
    summary = tables.summary_markdown(doc)
    assert "`0123456789ab`" in summary and "**3**" in summary and "**0.100000**" in summary


METRICS = """{"split": "test", "images": 3, "pixels": 300, "mean_iou": 0.5, "mean_dice": 0.6,
"pixel_accuracy": 0.7, "iou": {"pet": 0.5, "background": 0.5, "border": 0.5},
"dice": {"pet": 0.6, "background": 0.6, "border": 0.6}, "ece": {"original": 0.2, "calibrated": 0.1},
"nll": {"original": 1.0, "calibrated": 0.9}, "temperature": 1.5}"""
