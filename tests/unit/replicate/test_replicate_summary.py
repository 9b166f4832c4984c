"""replicates/summary.json and the seeds it is asked for."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from pedigree.api.replicate import parse_seeds
from pedigree.replicate.folds import METHOD
from pedigree.replicate.stats import INTERVAL_KIND, t_975
from pedigree.replicate.summary import (
    NO_RESULTS_NOTE,
    SCHEMA,
    SUMMARY_PATH,
    FoldsInfo,
    Replicated,
    SeedRun,
    Summary,
    empty_summary,
    write_summary,
)
from pedigree.replicate.upstream import ReplicateError, without_seed
from tests.conftest import REPO_ROOT

REPLICATED = Replicated(
    stages=("train", "calibrate", "evaluate"),
    upstream={"models/tune": "b.dir", "data/prepared": "a.dir"},
    inputs={"models/tune/best_params.json": "c"},
    params={"determinism": {"intra_op_threads": 2}, "train": {"epochs": 2}},
    code={"stages/train": "d.dir"},
)


def two_seeds() -> Summary:
    return Summary(
        (1, 2),
        REPLICATED,
        (
            SeedRun(1, {"mean_iou": 0.4, "iou.pet": 0.3, "images": 3.0}),
            SeedRun(2, {"mean_iou": 0.6, "iou.pet": 0.5, "images": 3.0}),
        ),
    )


def test_summary_document() -> None:
    doc = two_seeds().to_dict()
    assert doc["schema"] == SCHEMA and doc["seeds"] == [1, 2]
    assert doc["std"] == "sample standard deviation (n - 1)"
    assert doc["replicates"]["upstream"] == {"data/prepared": "a.dir", "models/tune": "b.dir"}
    assert doc["replicates"]["inputs"] == {"models/tune/best_params.json": "c"}
    assert doc["runs"][0] == {
        "seed": 1,
        "metrics": {"images": 3.0, "iou.pet": 0.3, "mean_iou": 0.4},
    }
    assert doc["metrics"]["mean_iou"] == {
        "n": 2, "mean": 0.5, "std": 0.141421, "min": 0.4, "max": 0.6, "range": 0.2,
    }  # fmt: skip
    assert doc["metrics"]["images"]["std"] == 0.0 and doc["metrics"]["images"]["range"] == 0.0
    assert "note" not in doc


def test_summary_text_is_stable() -> None:
    text = two_seeds().to_json()
    assert text == two_seeds().to_json() and text.endswith("}\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_empty_summary_is_the_committed_file() -> None:
    doc = empty_summary().to_dict()
    assert doc["seeds"] == [] and doc["replicates"] is None and doc["metrics"] == {}
    assert doc["note"] == NO_RESULTS_NOTE
    committed = (REPO_ROOT / SUMMARY_PATH).read_text(encoding="utf-8")
    assert committed == empty_summary().to_json()


def test_write_summary_replaces_the_file_atomically(tmp_path: Path) -> None:
    path = write_summary(tmp_path, two_seeds())
    assert path == tmp_path / SUMMARY_PATH
    assert json.loads(path.read_text())["seeds"] == [1, 2]
    write_summary(tmp_path, empty_summary())
    assert json.loads(path.read_text())["seeds"] == []
    assert [p.name for p in path.parent.iterdir()] == ["summary.json"]  # no temporary left


def test_without_seed_drops_only_the_seed() -> None:
    params = {"determinism": {"seed": 1, "intra_op_threads": 2}, "train": {"seed_like": 1}}
    assert without_seed(params, "determinism.seed") == {
        "determinism": {"intra_op_threads": 2},
        "train": {"seed_like": 1},
    }
    assert params["determinism"]["seed"] == 1  # not changed in place


@pytest.mark.parametrize(
    ("text", "seeds"), [("1,2,3", (1, 2, 3)), (" 3, 1 ", (3, 1)), ("0,2147483647", (0, 2**31 - 1))]
)
def test_seeds(text: str, seeds: tuple[int, ...]) -> None:
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", r"--seeds is empty"),
        (" , ", r"--seeds is empty"),
        ("a,b", r"--seeds: 'a' is not a seed \(a whole number from 0 to 2147483647\)"),
        ("1,,2", r"--seeds: an empty entry is not a seed"),
        ("1,-2", r"--seeds: '-2' is not a seed"),
        ("1,2147483648", r"--seeds: '2147483648' is not a seed"),
        ("1.5,2", r"--seeds: '1.5' is not a seed"),
        ("1,2,1", r"--seeds: seed 1 is given twice"),
        ("7", r"--seeds: one seed \(7\) has no spread: replicate needs at least 2"),
    ],
)
def test_bad_seeds(text: str, match: str) -> None:
    with pytest.raises(ReplicateError, match=match) as info:
        parse_seeds(text)
    assert info.value.exit_code == 2 and "--seeds 1,2,3" in (info.value.hint or "")


def test_the_summary_names_the_seed_it_varied() -> None:
    # evaluate's report reads the seed key from here; an older summary without it means
    # determinism.seed there.
    assert "seed" not in REPLICATED.to_dict()
    seeded = Replicated(("fit",), {}, {}, {"fit": {"trees": 3}}, {}, seed="fit.random_state")
    assert seeded.to_dict()["seed"] == "fit.random_state"


# --- replicate --folds: the folds, the interval of the mean, the overrides ------------------

FOLDS_INFO = FoldsInfo(
    k=3,
    seed=5,
    method=METHOD,
    plan="f" * 64,
    group_key="animal_id",
    held_out="test",
    inner={"validation": 0.125, "calibration": 0.125},
    sizes=(4, 4, 3),
    excluded=2,
)
# (fold, seed) -> metrics; "extra" only in three runs, "once" in one
FOLD_METRICS = {
    (0, 2): {"mean_iou": 0.61, "iou.pet": 0.52, "images": 4.0, "extra": 1.5},
    (0, 1): {"mean_iou": 0.58, "iou.pet": 0.49, "images": 4.0, "extra": 2.5},
    (1, 2): {"mean_iou": 0.66, "iou.pet": 0.55, "images": 4.0},
    (1, 1): {"mean_iou": 0.63, "iou.pet": 0.51, "images": 4.0, "once": 7.0},
    (2, 2): {"mean_iou": 0.55, "iou.pet": 0.47, "images": 3.0, "extra": 4.0},
    (2, 1): {"mean_iou": 0.59, "iou.pet": 0.50, "images": 3.0},
}


def folded() -> Summary:
    # given out of order: the document sorts them by fold, then by the order of the seeds
    runs = [SeedRun(seed, metrics, fold=fold) for (fold, seed), metrics in FOLD_METRICS.items()]
    return Summary((2, 1), REPLICATED, tuple(reversed(runs)), FOLDS_INFO)


def test_a_folded_summary_describes_its_folds() -> None:
    doc = folded().to_dict()
    assert doc["folds"] == {
        "k": 3,
        "seed": 5,
        "method": METHOD,
        "plan": "f" * 64,
        "group_key": "animal_id",
        "held_out": "test",
        "inner": {"calibration": 0.125, "validation": 0.125},
        "sizes": [4, 4, 3],
        "excluded": 2,
    }
    assert list(doc["folds"]["inner"]) == ["calibration", "validation"]
    assert doc["interval"] == INTERVAL_KIND
    assert "95% Student-t interval" in doc["interval"]


def test_folded_runs_are_sorted_by_fold_then_seed_order_and_name_their_fold() -> None:
    runs = folded().to_dict()["runs"]
    assert [(run["fold"], run["seed"]) for run in runs] == [
        (0, 2), (0, 1), (1, 2), (1, 1), (2, 2), (2, 1),
    ]  # fmt: skip
    assert runs[1] == {
        "seed": 1,
        "fold": 0,
        "metrics": {"extra": 2.5, "images": 4.0, "iou.pet": 0.49, "mean_iou": 0.58},
    }


def test_every_metric_has_the_student_t_interval_of_its_mean() -> None:
    metrics = folded().to_dict()["metrics"]
    assert set(metrics) == {"extra", "images", "iou.pet", "mean_iou", "once"}
    for key, spread in metrics.items():
        values = np.array([m[key] for m in FOLD_METRICS.values() if key in m])
        assert spread["n"] == len(values)
        if len(values) < 2:
            assert spread["interval"] is None and spread["std"] is None
            continue
        mean, std = values.mean(), values.std(ddof=1)
        half = t_975(len(values) - 1) * std / math.sqrt(len(values))
        low, high = spread["interval"]
        assert low == pytest.approx(mean - half, abs=1e-6), key
        assert high == pytest.approx(mean + half, abs=1e-6), key
        assert spread["mean"] == pytest.approx(mean, abs=1e-6)
        assert spread["std"] == pytest.approx(std, abs=1e-6)
        assert low <= spread["mean"] <= high
    assert metrics["images"]["interval"][0] < metrics["images"]["interval"][1]
    assert t_975(5) == pytest.approx(2.570581836)  # n = 6 runs of mean_iou


def test_a_folded_summary_text_is_stable() -> None:
    text = folded().to_json()
    assert text == folded().to_json() and text.endswith("}\n")
    assert json.loads(text)["folds"]["plan"] == "f" * 64


# Written by the summary code before --folds existed (schema pedigree.replicates/v1): a seed-only
# summary must keep these bytes, or evaluate would go stale for nothing.
SEED_ONLY_BEFORE = """\
{
  "metrics": {
    "m": {
      "max": 0.5,
      "mean": 0.375,
      "min": 0.25,
      "n": 2,
      "range": 0.25,
      "std": 0.176777
    }
  },
  "replicates": {
    "code": {
      "stages/fit": "c.dir"
    },
    "inputs": {},
    "params": {
      "fit": {
        "trees": 3
      }
    },
    "seed": "fit.seed",
    "stages": [
      "fit"
    ],
    "upstream": {
      "data/x": "a.dir"
    }
  },
  "runs": [
    {
      "metrics": {
        "m": 0.5
      },
      "seed": 2
    },
    {
      "metrics": {
        "m": 0.25
      },
      "seed": 1
    }
  ],
  "schema": "pedigree.replicates/v1",
  "seeds": [
    2,
    1
  ],
  "std": "sample standard deviation (n - 1)"
}
"""


def test_a_seed_only_summary_keeps_its_bytes() -> None:
    replicated = Replicated(
        ("fit",),
        {"data/x": "a.dir"},
        {},
        {"fit": {"trees": 3}},
        {"stages/fit": "c.dir"},
        "fit.seed",
    )
    summary = Summary((2, 1), replicated, (SeedRun(2, {"m": 0.5}), SeedRun(1, {"m": 0.25})))
    assert summary.to_json() == SEED_ONLY_BEFORE
    doc = two_seeds().to_dict()
    assert not {"folds", "interval"} & set(doc)
    assert "overrides" not in doc["replicates"]
    assert all("interval" not in spread for spread in doc["metrics"].values())
    assert all("fold" not in run for run in doc["runs"])


def test_overrides_are_recorded_sorted() -> None:
    replicated = Replicated(
        ("train",), {}, {}, {"train": {"epochs": 2}}, {}, "determinism.seed",
        overrides={"train.epochs": 2, "tune.trials": 1, "model.sizes": [16, 32]},
    )  # fmt: skip
    doc = replicated.to_dict()
    assert doc["overrides"] == {"model.sizes": [16, 32], "train.epochs": 2, "tune.trials": 1}
    assert list(doc["overrides"]) == ["model.sizes", "train.epochs", "tune.trials"]
    text = Summary((1, 2), replicated, ()).to_json()
    assert '"overrides": {\n      "model.sizes"' in text
