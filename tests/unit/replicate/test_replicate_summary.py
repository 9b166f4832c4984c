"""replicates/summary.json and the seeds it is asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pedigree.api.replicate import parse_seeds
from pedigree.replicate.summary import (
    NO_RESULTS_NOTE,
    SCHEMA,
    SUMMARY_PATH,
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
