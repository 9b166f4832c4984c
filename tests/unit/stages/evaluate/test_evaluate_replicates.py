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


# --- fold summaries (`pedigree replicate --folds K`) -------------------------------------------

TRANSFORM = {"image_size": [32, 32], "split": {"test": [9]}}
TUNE = {"trials": 2, "epochs": 1}
FOLD_LOCK: dict[str, Any] = copy.deepcopy(LOCK)
FOLD_LOCK["stages"] = {
    "ingest": {
        "cmd": "x",
        "params": {"params.yaml": {"ingest": {"source": "synthetic"}}},
        "outs": [{"path": "data/raw", "md5": "raw.dir"}],
    },
    "transform": {
        "cmd": "x",
        "deps": [{"path": "data/raw", "md5": "raw.dir"}],
        "params": {"params.yaml": {"transform": TRANSFORM}},
        "outs": [{"path": "data/prepared", "md5": "aaaa.dir"}],
    },
    "tune": {
        "cmd": "x",
        # tune read model and determinism too: the model's own stages decide those sections
        "params": {"params.yaml": {"model": {"input_size": 99}, "determinism": {}, "tune": TUNE}},
        "outs": [{"path": "models/tune", "md5": "bbbb.dir"}],
    },
    **{k: v for k, v in LOCK["stages"].items() if k not in ("transform", "tune")},
}
INTERVAL = "95% Student-t interval of the mean: mean +- t(0.975, n - 1) * std / sqrt(n)"
FOLD_RUNS = [
    (0, {"mean_iou": 0.40, "pixel_accuracy": 0.80, "images": 4.0, "iou.pet": 0.30}),
    (1, {"mean_iou": 0.50, "pixel_accuracy": 0.85, "images": 5.0, "iou.pet": 0.40}),
    (2, {"mean_iou": 0.60, "pixel_accuracy": 0.90, "images": 4.0, "iou.pet": 0.50}),
]


def fold_summary(overrides: dict[str, Any] | None = None, **replicates: Any) -> dict[str, Any]:
    """A 3-fold summary of FOLD_LOCK's model, as pedigree.replicate writes one."""
    from pedigree.replicate.stats import fold_table, spreads

    what: dict[str, Any] = {
        "stages": ["transform", "tune", "train", "calibrate", "evaluate"],
        "upstream": {"data/raw": "raw.dir"},
        "inputs": {},
        "params": {
            "transform": TRANSFORM,
            "tune": TUNE,
            "model": TRAIN_PARAMS["model"],
            "determinism": {"intra_op_threads": 2, "op_determinism": True},
            "train": TRAIN_PARAMS["train"],
            "calibrate": {"bins": 15},
            "evaluate": EVALUATE,
        },
        "code": {"stages/train": "code-train.dir", "stages/calibrate": "code-cal.dir"},
        "overrides": overrides or {},
        "seed": "determinism.seed",
    }
    what.update(replicates)
    values = [metrics for _, metrics in FOLD_RUNS]
    return {
        "schema": "pedigree.replicates/v1",
        "seeds": [1234],
        "std": "sample standard deviation (n - 1)",
        "interval": INTERVAL,
        "folds": {
            "k": 3,
            "seed": 0,
            "method": "grouped k-fold: whole groups in a seeded order",
            "plan": "ab" * 32,
            "group_key": "animal_id",
            "held_out": "test",
            "inner": {"validation": 0.125, "calibration": 0.125},
            "sizes": [4, 5, 4],
            "excluded": 6,
        },
        "replicates": what,
        "runs": fold_table([(fold, 1234, metrics) for fold, metrics in FOLD_RUNS]),
        "metrics": {k: v.to_dict(interval=True) for k, v in spreads(values).items()},
    }


@pytest.fixture
def fold_lock(tmp_path: Path) -> Path:
    path = tmp_path / "dvc.lock"
    path.write_text(yaml.safe_dump(FOLD_LOCK), encoding="utf-8")
    return path


def fold_view(tmp_path: Path, lock: Path, doc: dict[str, Any]) -> ReplicateView:
    summary = read_summary(write(tmp_path, doc))
    return compare(summary, lock, [MODEL, CALIBRATION], EVALUATE)


def test_a_fold_summary_is_read_with_its_additions(tmp_path: Path) -> None:
    doc = fold_summary()
    summary = read_summary(write(tmp_path, doc))
    assert summary == doc and summary["runs"][1] == {
        "fold": 1,
        "seed": 1234,
        "metrics": {"images": 5.0, "iou.pet": 0.4, "mean_iou": 0.5, "pixel_accuracy": 0.85},
    }
    assert summary["metrics"]["mean_iou"]["interval"] == [0.251586, 0.748414]


def test_a_fold_summary_of_this_model_is_current(tmp_path: Path, fold_lock: Path) -> None:
    view = fold_view(tmp_path, fold_lock, fold_summary())
    assert view.state == "current", view.differences


@pytest.mark.parametrize(
    ("section", "value"),
    [("transform", {"image_size": [64, 64], "split": {"test": [9]}}), ("tune", {"trials": 9})],
)
def test_sections_only_upstream_stages_read_come_from_their_lock_entries(
    tmp_path: Path, fold_lock: Path, section: str, value: Any
) -> None:
    doc = fold_summary()
    doc["replicates"]["params"][section] = value
    view = fold_view(tmp_path, fold_lock, doc)
    assert view.differences == (f"params `{section}` differ",)


def test_a_section_no_stage_recorded_is_stale(tmp_path: Path, fold_lock: Path) -> None:
    doc = fold_summary()
    doc["replicates"]["params"]["elsewhere"] = {"x": 1}
    assert fold_view(tmp_path, fold_lock, doc).differences == ("params `elsewhere` differ",)


def test_upstream_data_raw_is_compared_with_the_lock(tmp_path: Path, fold_lock: Path) -> None:
    doc = fold_summary(upstream={"data/raw": "older.dir"})
    view = fold_view(tmp_path, fold_lock, doc)
    assert view.differences == ("upstream `data/raw`: older.dir replicated, raw.dir here",)


def test_a_current_fold_summary_shows_the_interval_and_each_fold(
    tmp_path: Path, fold_lock: Path
) -> None:
    view = fold_view(tmp_path, fold_lock, fold_summary())
    metrics = {"mean_iou": 0.3, "pixel_accuracy": 0.86, "iou": {"pet": 0.5}, "images": 6}
    text = replicates_markdown(view, metrics, 1234)
    assert text.startswith(
        "Grouped nested K-fold (by `animal_id`): for each of the 3 folds, transform, tune, "
        "train, calibrate, evaluate ran again with that fold held out as the test split"
    )
    assert "(calibration 0.125, validation 0.125 of them)" in text
    assert "seeds 1234 (determinism.seed)" in text
    assert "The folds held out 4, 5, 4 samples; the 6 samples of the fixed test split" in text
    assert f"fold plan `{'ab' * 6}`, seed 0: grouped k-fold" in text
    assert "same upstream as this model (`data/raw` raw.dir)" in text
    assert INTERVAL in text and "sample standard deviation (n - 1)" in text
    assert "overrides" not in text
    lines = text.splitlines()
    assert (
        lines.count(
            "| metric | this model (seed 1234) | mean | std | min | max | 95% interval "
            "| this model vs interval |"
        )
        == 1
    )
    assert (
        "| mean_iou | 0.300000 | 0.500000 | 0.100000 | 0.400000 | 0.600000 "
        "| [0.251586, 0.748414] | inside |"
    ) in lines
    assert any(line.startswith("| pixel_accuracy | 0.860000 |") for line in lines)
    assert any(line.startswith("| iou.pet | 0.500000 |") for line in lines)
    assert not any(line.startswith("| images |") for line in lines)  # a count, not a score
    # the per-fold table: fold, seed, held-out size and the primary metrics the runs have
    assert "| fold | seed | held out | mean_iou | pixel_accuracy | iou.pet |" in lines
    assert "| 0 | 1234 | 4 | 0.400000 | 0.800000 | 0.300000 |" in lines
    assert "| 1 | 1234 | 5 | 0.500000 | 0.850000 | 0.400000 |" in lines
    assert "| 2 | 1234 | 4 | 0.600000 | 0.900000 | 0.500000 |" in lines


@pytest.mark.parametrize(
    ("value", "where"), [(0.1, "below"), (0.9, "above"), (0.5, "inside"), (None, "n/a")]
)
def test_where_this_model_falls(
    tmp_path: Path, fold_lock: Path, value: float | None, where: str
) -> None:
    view = fold_view(tmp_path, fold_lock, fold_summary())
    text = replicates_markdown(view, {"mean_iou": value}, 7)
    row = next(line for line in text.splitlines() if line.startswith("| mean_iou |"))
    assert row.endswith(f"| {where} |")


def test_a_single_fold_value_has_no_interval(tmp_path: Path, fold_lock: Path) -> None:
    doc = fold_summary()
    doc["metrics"]["mean_iou"].update(n=1, std=None, interval=None)
    text = replicates_markdown(fold_view(tmp_path, fold_lock, doc), {"mean_iou": 0.5}, 7)
    row = next(line for line in text.splitlines() if line.startswith("| mean_iou |"))
    assert row.endswith("| n/a | 0.400000 | 0.600000 | n/a | n/a |")


def test_overrides_make_fold_results_stale_and_are_named(tmp_path: Path, fold_lock: Path) -> None:
    doc = fold_summary(overrides={"train.epochs": 1})
    doc["replicates"]["params"]["train"] = {"epochs": 1, "patience": 1}
    view = fold_view(tmp_path, fold_lock, doc)
    assert view.state == "stale"
    assert view.differences == ("params `train` differ (the replicates set train.epochs = 1)",)
    text = replicates_markdown(view, METRICS, 1234)
    assert "These fold results are **stale**" in text and "| metric" not in text
    assert "- params `train` differ (the replicates set train.epochs = 1)" in text
    assert "The replicates ran with overrides, params set for them only: train.epochs = 1." in text
    assert "differ from this model's by design" in text
    assert "Run `pedigree replicate --folds 3` again without the overrides (after" in text
    assert text.startswith("Grouped nested K-fold (by `animal_id`)")


def test_overrides_equal_to_this_models_params_stay_current(
    tmp_path: Path, fold_lock: Path
) -> None:
    view = fold_view(tmp_path, fold_lock, fold_summary(overrides={"train.epochs": 2}))
    assert view.state == "current"
    text = replicates_markdown(view, METRICS, 1234)
    assert "ran with overrides, params set for them only: train.epochs = 2." in text
    assert "by design" not in text


def test_a_stale_fold_summary_for_another_reason_names_it(tmp_path: Path, fold_lock: Path) -> None:
    doc = fold_summary(code={"stages/train": "older.dir"})
    text = replicates_markdown(fold_view(tmp_path, fold_lock, doc), METRICS, 1234)
    assert "- code `stages/train`: older.dir replicated, code-train.d here" in text
    assert "Run `pedigree replicate --folds 3` again (after `pedigree run`)" in text
    assert "overrides" not in text


def test_seed_summaries_with_overrides_say_so(tmp_path: Path, lock: Path) -> None:
    doc = summary_doc(overrides={"train.patience": 1})
    text = replicates_markdown(
        compare(read_summary(write(tmp_path, doc)), lock, [MODEL, CALIBRATION], EVALUATE),
        METRICS,
        1234,
    )
    assert "ran with overrides, params set for them only: train.patience = 1." in text
    assert "| metric | this model (seed 1234) |" in text


def _broken(change: str) -> dict[str, Any]:
    doc = fold_summary()
    if change.startswith("folds."):
        key, _, raw = change[len("folds.") :].partition("=")
        doc["folds"][key] = json.loads(raw)
    elif change == "folds":
        doc["folds"] = [3]
    elif change == "no-sizes":
        del doc["folds"]["sizes"]
    elif change.startswith("run."):
        key, _, raw = change[len("run.") :].partition("=")
        doc["runs"][0][key] = json.loads(raw)
    elif change == "run":
        doc["runs"][0] = "fold 0"
    elif change.startswith("interval="):
        doc["metrics"]["mean_iou"]["interval"] = json.loads(change[len("interval=") :])
    elif change == "kind":
        doc["interval"] = 95
    elif change.startswith("overrides="):
        doc["replicates"]["overrides"] = json.loads(change[len("overrides=") :])
    return doc


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ("folds", r"\[folds\]: expected an object"),
        ("folds.k=1", r"\[folds\.k\]: expected a whole number >= 2"),
        ("folds.k=true", r"\[folds\.k\]"),
        ('folds.seed="0"', r"\[folds\.seed\]: expected a whole number"),
        ("folds.method=null", r"\[folds\.method\]: expected a string"),
        ("folds.plan=7", r"\[folds\.plan\]: expected a string"),
        ('folds.group_key=""', r"\[folds\.group_key\]: expected a string"),
        ("folds.held_out=null", r"\[folds\.held_out\]"),
        ('folds.inner={"validation": 1.5}', r"\[folds\.inner\]: expected an object of shares"),
        ("folds.inner=[0.1]", r"\[folds\.inner\]"),
        ("no-sizes", r"\[folds\.sizes\]: expected a list of k whole numbers"),
        ("folds.sizes=[4, 5]", r"\[folds\.sizes\]: expected 3 sizes, one per fold \(got 2\)"),
        ("folds.sizes=[4, -5, 4]", r"\[folds\.sizes\]"),
        ("folds.excluded=-1", r"\[folds\.excluded\]: expected a whole number >= 0"),
        ("run", r"\[runs\[0\]\]: expected an object"),
        ("run.fold=3", r"\[runs\[0\]\.fold\]: expected a fold number 0\.\.2"),
        ("run.fold=null", r"\[runs\[0\]\.fold\]"),
        ("run.seed=1.5", r"\[runs\[0\]\.seed\]: expected a whole number"),
        ("run.metrics=[]", r"\[runs\[0\]\.metrics\]: expected an object"),
        ("interval=[0.7, 0.3]", r"\[metrics\.mean_iou\.interval\]: expected \[low, high\]"),
        ("interval=[0.3]", r"\[metrics\.mean_iou\.interval\]"),
        ('interval="wide"', r"\[metrics\.mean_iou\.interval\]"),
        ("kind", r"\[interval\]: expected a string"),
        ("overrides=[]", r"\[replicates\.overrides\]: expected an object"),
        ('overrides={"epochs": 2}', r"\[replicates\.overrides\]"),
    ],
)
def test_bad_fold_summaries_are_refused(tmp_path: Path, change: str, match: str) -> None:
    with pytest.raises(SourceError, match=match):
        read_summary(write(tmp_path, _broken(change)))
