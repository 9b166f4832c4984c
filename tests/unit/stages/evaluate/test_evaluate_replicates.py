"""The report's Replicates section without a kernel: reading the summary, matching, rendering."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pedigree.errors import SourceError
from pedigree.lineage.hashing import Ignore, content_hash
from stages.evaluate.replicates import (
    ReplicateView,
    compare,
    read_summary,
    replicates_markdown,
)

MODEL, CALIBRATION = "models/model.keras", "models/calibration/calibration.json"
EVALUATE = {"batch_size": 4, "bins": 10, "examples": 2}
TRAIN_PARAMS = {
    "model": {"input_size": 32, "depth": 2},
    "determinism": {"seed": 1234, "intra_op_threads": 2, "op_determinism": True},
    "train": {"epochs": 2, "patience": 1},
}
LOCK = {
    "schema": "2.0",
    "stages": {
        "transform": {"cmd": "x", "outs": [{"path": "data/prepared", "md5": "aaaa.dir"}]},
        "tune": {"cmd": "x", "outs": [{"path": "models/tune", "md5": "bbbb.dir"}]},
        "train": {
            "cmd": "x",
            "deps": [
                {"path": "stages/train", "md5": "code-train.dir"},
                {"path": "models/tune/best_params.json", "md5": "best"},
                {"path": "data/prepared/train", "md5": "split.dir"},
            ],
            "params": {"params.yaml": TRAIN_PARAMS},
            "outs": [{"path": MODEL, "md5": "model-md5"}],
        },
        "calibrate": {
            "cmd": "x",
            "deps": [{"path": "stages/calibrate", "md5": "code-cal.dir"}],
            "params": {"params.yaml": {"calibrate": {"bins": 15}}},
            "outs": [{"path": CALIBRATION, "md5": "cal-md5"}],
        },
        # evaluate's own entry is from its previous run: never what the report compares with
        "evaluate": {
            "cmd": "x",
            "deps": [{"path": "stages/train", "md5": "old.dir"}],
            "params": {"params.yaml": {"evaluate": {"bins": 99}}},
            "outs": [{"path": "reports/evaluation.json", "md5": "r"}],
        },
    },
}
METRICS = {
    "split": "test",
    "mean_iou": 0.5,
    "iou": {"pet": 0.4, "background": 0.9, "border": None},
    "ece": {"original": 0.2, "calibrated": 0.1},
}


def summary_doc(**replicates: Any) -> dict[str, Any]:
    """A summary that replicates exactly LOCK's model (seeds 1 and 2), `replicates` overriding."""
    what = {
        "stages": ["train", "calibrate", "evaluate"],
        "upstream": {"data/prepared": "aaaa.dir", "models/tune": "bbbb.dir"},
        "inputs": {"models/tune/best_params.json": "best", "data/prepared/test": "t.dir"},
        "params": {
            "model": TRAIN_PARAMS["model"],
            "determinism": {"intra_op_threads": 2, "op_determinism": True},
            "train": TRAIN_PARAMS["train"],
            "calibrate": {"bins": 15},
            "evaluate": EVALUATE,
        },
        "code": {"stages/train": "code-train.dir", "stages/calibrate": "code-cal.dir"},
    }
    what.update(replicates)
    return {
        "schema": "pedigree.replicates/v1",
        "seeds": [1, 2],
        "std": "sample standard deviation (n - 1)",
        "replicates": what,
        "runs": [
            {"seed": 1, "metrics": {"mean_iou": 0.45, "iou.pet": 0.35}},
            {"seed": 2, "metrics": {"mean_iou": 0.55, "iou.pet": 0.45}},
        ],
        "metrics": {
            "iou.pet": {"n": 2, "mean": 0.4, "std": 0.070711, "min": 0.35, "max": 0.45,
                        "range": 0.1},
            "mean_iou": {"n": 2, "mean": 0.5, "std": 0.070711, "min": 0.45, "max": 0.55,
                         "range": 0.1},
        },
    }  # fmt: skip


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    path = tmp_path / "dvc.lock"
    path.write_text(yaml.safe_dump(LOCK), encoding="utf-8")
    return path


def write(tmp_path: Path, doc: Any, name: str = "summary.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_the_committed_initial_summary_reads_as_no_results(lock: Path) -> None:
    root = Path(__file__).resolve().parents[4]
    summary = read_summary(root / "replicates" / "summary.json")
    assert summary is not None and summary["seeds"] == [] and summary["replicates"] is None
    view = compare(summary, lock, [MODEL, CALIBRATION], EVALUATE)
    assert view.state == "absent"
    text = replicates_markdown(view, METRICS, 1234)
    assert text == "No replicate results (run `pedigree replicate --seeds 1,2,3`)."


def test_no_summary_given_reads_as_no_results(lock: Path) -> None:
    assert read_summary("") is None
    assert compare(None, lock, [MODEL, CALIBRATION], EVALUATE).state == "absent"


def test_a_summary_of_this_model_shows_the_spread(tmp_path: Path, lock: Path) -> None:
    summary = read_summary(write(tmp_path, summary_doc()))
    view = compare(summary, lock, [MODEL, CALIBRATION], EVALUATE)
    assert view == ReplicateView("current", summary, ())
    text = replicates_markdown(view, METRICS, 1234)
    assert "determinism.seed = 1, 2" in text and "sample standard deviation (n - 1)" in text
    assert "`data/prepared` aaaa.dir" in text
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| metric"))
    assert header == (
        "| metric | this model (seed 1234) | mean | std | min | max | range | in range |"
    )
    assert (
        "| iou.pet | 0.400000 | 0.400000 | 0.070711 | 0.350000 | 0.450000 | 0.100000 | yes |"
        in (lines)
    )
    assert (
        "| mean_iou | 0.500000 | 0.500000 | 0.070711 | 0.450000 | 0.550000 | 0.100000 | yes |"
        in (lines)
    )


def test_this_model_outside_the_range_is_said(tmp_path: Path, lock: Path) -> None:
    summary = read_summary(write(tmp_path, summary_doc()))
    metrics = dict(METRICS, mean_iou=0.7)
    text = replicates_markdown(compare(summary, lock, [MODEL, CALIBRATION], EVALUATE), metrics, 7)
    assert "| mean_iou | 0.700000 | 0.500000 |" in text and text.count("| no |") == 1


@pytest.mark.parametrize(
    ("change", "difference"),
    [
        ({"upstream": {"data/prepared": "other.dir"}}, "upstream `data/prepared`: other.dir"),
        ({"inputs": {"models/tune/best_params.json": "old"}}, "input `models/tune/best_params"),
        ({"code": {"stages/train": "older.dir"}}, "code `stages/train`: older.dir replicated"),
    ],
)
def test_another_upstream_is_stale_and_says_what_differs(
    tmp_path: Path, lock: Path, change: dict[str, Any], difference: str
) -> None:
    summary = read_summary(write(tmp_path, summary_doc(**change)))
    view = compare(summary, lock, [MODEL, CALIBRATION], EVALUATE)
    assert view.state == "stale"
    assert len(view.differences) == 1 and view.differences[0].startswith(difference)
    text = replicates_markdown(view, METRICS, 1234)
    assert "**stale**" in text and "seeds 1, 2" in text and "| metric" not in text
    assert "pedigree replicate --seeds 1,2" in text


@pytest.mark.parametrize(
    ("section", "value"),
    [("train", {"epochs": 3, "patience": 1}), ("calibrate", {"bins": 10})],
)
def test_other_params_are_stale(tmp_path: Path, lock: Path, section: str, value: Any) -> None:
    doc = summary_doc()
    doc["replicates"]["params"][section] = value
    view = compare(read_summary(write(tmp_path, doc)), lock, [MODEL, CALIBRATION], EVALUATE)
    assert view.state == "stale" and view.differences == (f"params `{section}` differ",)


def test_this_evaluations_own_params_count(tmp_path: Path, lock: Path) -> None:
    summary = read_summary(write(tmp_path, summary_doc()))
    view = compare(summary, lock, [MODEL, CALIBRATION], dict(EVALUATE, bins=15))
    assert view.differences == ("params `evaluate` differ",)


def test_the_seed_alone_does_not_make_them_stale(tmp_path: Path, lock: Path) -> None:
    doc = summary_doc()
    doc["replicates"]["params"]["determinism"]["seed"] = 99
    view = compare(read_summary(write(tmp_path, doc)), lock, [MODEL, CALIBRATION], EVALUATE)
    assert view.state == "current"


def test_the_seed_key_comes_from_the_summary(tmp_path: Path, lock: Path) -> None:
    # A pipeline whose seed is train.epochs (any declared key): only that key may differ, and
    # determinism.seed is then an ordinary param.
    doc = summary_doc(seed="train.epochs")
    doc["replicates"]["params"]["train"] = {"epochs": 99, "patience": 1}
    doc["replicates"]["params"]["determinism"]["seed"] = 1234
    summary = read_summary(write(tmp_path, doc))
    view = compare(summary, lock, [MODEL, CALIBRATION], EVALUATE)
    assert view.state == "current", view.differences
    assert "once per seed (train.epochs = 1, 2)" in replicates_markdown(view, METRICS, 1234)
    doc["replicates"]["params"]["determinism"]["seed"] = 7
    view = compare(read_summary(write(tmp_path, doc)), lock, [MODEL, CALIBRATION], EVALUATE)
    assert view.differences == ("params `determinism` differ",)


def test_a_malformed_seed_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"\[replicates\.seed\]: expected section\.key"):
        read_summary(write(tmp_path, summary_doc(seed="seed")))


def test_code_outside_the_models_stages_is_hashed_now(tmp_path: Path, lock: Path) -> None:
    code = tmp_path / "stages" / "evaluate"
    code.mkdir(parents=True)
    (code / "x.py").write_text("print(1)\n", encoding="utf-8")
    found = content_hash(code, Ignore(tmp_path))
    assert found is not None
    doc = summary_doc(code={"stages/evaluate": found.md5})
    view = compare(
        read_summary(write(tmp_path, doc)), lock, [MODEL, CALIBRATION], EVALUATE, root=tmp_path
    )
    assert view.state == "current"
    (code / "x.py").write_text("print(2)\n", encoding="utf-8")
    view = compare(
        read_summary(write(tmp_path, doc)), lock, [MODEL, CALIBRATION], EVALUATE, root=tmp_path
    )
    assert view.state == "stale" and view.differences[0].startswith("code `stages/evaluate`")


def test_without_a_record_of_the_model_they_are_stale(tmp_path: Path, lock: Path) -> None:
    summary = read_summary(write(tmp_path, summary_doc()))
    view = compare(summary, lock, ["elsewhere/model.keras"], EVALUATE)
    assert view.state == "stale" and "has no record of the evaluated model" in view.differences[0]
    missing = compare(summary, tmp_path / "no.lock", [MODEL], EVALUATE)
    assert missing.state == "stale"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, r"summary\.json is missing"),
        ("{oops", r"summary\.json is not valid JSON"),
        ("[]", r"is not a pedigree\.replicates/v1 summary \(schema: 'list'\)"),
        (
            '{"schema": "other/v9"}',
            r"is not a pedigree\.replicates/v1 summary \(schema: 'other/v9'\)",
        ),
        (
            '{"schema": "pedigree.replicates/v1", "seeds": "1,2", "runs": [], "metrics": {}}',
            r"summary\.json \[seeds\]: expected a list",
        ),
        (
            '{"schema": "pedigree.replicates/v1", "seeds": [1], "runs": [], "metrics": {}}',
            r"summary\.json \[replicates\]: seeds without what they replicate",
        ),
    ],
)
def test_bad_summaries_are_refused(tmp_path: Path, content: str | None, match: str) -> None:
    path = tmp_path / "summary.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(SourceError, match=match):
        read_summary(path)


def test_compare_does_not_change_the_summary(tmp_path: Path, lock: Path) -> None:
    summary = read_summary(write(tmp_path, summary_doc()))
    before = copy.deepcopy(summary)
    compare(summary, lock, [MODEL, CALIBRATION], EVALUATE)
    assert summary == before
