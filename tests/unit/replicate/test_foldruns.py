"""`replicate --folds`: the runs, the fold plan from the split records, each fold's split map."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from pedigree.replicate.foldruns import (
    ASSIGNMENT_SCHEMA,
    PLANS,
    Run,
    assignment,
    assignment_text,
    load_plan,
    parse_folds,
    plan_folds,
    read_samples,
    save_plan,
)
from pedigree.replicate.folds import FoldError
from pedigree.replicate.upstream import FoldSetup, ReplicateError
from pedigree.spec.replication import Folds

PROVENANCE = "data/prepared/provenance.jsonl"
FOLDS = Folds.model_validate(
    {
        "assignment": "transform.split.groups",
        "heldOut": "test",
        "inner": {"validation": 0.125, "calibration": 0.125},
        "seed": 3,
    }
)
SETUP = FoldSetup(FOLDS, "transform", "animal_id", "train", PROVENANCE, "test")
# 12 animals outside the test split (1..3 images each), 2 animals in the fixed test split.
ANIMALS = [f"a{n:02d}" for n in range(12)]
TEST_ANIMALS = ["t0", "t1"]
SPLIT_OF = ("train", "validation", "calibration")


def rows() -> list[dict[str, Any]]:
    """Provenance lines: every sample with its animal and its (bucket) split."""
    found: list[dict[str, Any]] = []
    for n, animal in enumerate(ANIMALS):
        for k in range(1 + n % 3):
            found.append({"id": f"{animal}_{k}", "animal_id": animal, "split": SPLIT_OF[n % 3]})
    for animal in TEST_ANIMALS:
        for k in range(2):
            found.append({"id": f"{animal}_{k}", "animal_id": animal, "split": "test"})
    return found


def write_lines(root: Path, lines: list[str]) -> Path:
    path = root / PROVENANCE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def write_rows(root: Path, found: list[dict[str, Any]]) -> Path:
    return write_lines(root, [json.dumps(row) for row in found])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_rows(tmp_path, rows())
    return tmp_path


# --- runs and --folds ------------------------------------------------------------------------


def test_a_run_is_named_by_its_seed_and_fold() -> None:
    assert Run(7).name == "seed-7" and Run(7).label() == "seed 7"
    assert Run(7, fold=0).name == "fold-0-seed-7"
    assert Run(7, fold=0).label() == "fold 0 seed 7"
    assert Run(1, fold=4).name == "fold-4-seed-1" and Run(1, fold=4).label() == "fold 4 seed 1"


@pytest.mark.parametrize(("value", "k"), [("5", 5), (" 5 ", 5), ("2", 2), ("50", 50), (3, 3)])
def test_good_folds(value: str | int, k: int) -> None:
    assert parse_folds(value) == k


@pytest.mark.parametrize("value", ["1", "0", "51", "x", "", " ", "-3", "5.0", "2,3", 1])
def test_bad_folds(value: str | int) -> None:
    with pytest.raises(ReplicateError, match=rf"--folds: '{value}' is not a number of folds") as e:
        parse_folds(value)
    assert e.value.exit_code == 2 and "--folds 5" in (e.value.hint or "")
    assert "from 2 to 50" in (e.value.hint or "")


def test_a_digit_that_int_cannot_read_is_a_user_error_too() -> None:
    # BUG: "²".isdigit() is True but int("²") raises ValueError, so `--folds ²` crashes with a
    # bare ValueError (an internal error, exit 5) instead of the ReplicateError (exit 2).
    with pytest.raises(ReplicateError, match=r"--folds: '²' is not a number of folds"):
        parse_folds("²")


# --- the split records -----------------------------------------------------------------------


def test_read_samples_keeps_the_test_split_apart(project: Path) -> None:
    groups, test = read_samples(project, SETUP)
    assert test == ["t0_0", "t0_1", "t1_0", "t1_1"]  # in file order
    assert not set(test) & set(groups)
    assert groups["a00_0"] == "a00" and groups["a05_2"] == "a05"
    assert set(groups.values()) == set(ANIMALS)
    assert len(groups) == sum(1 + n % 3 for n in range(12))


def test_groups_come_from_the_group_key(tmp_path: Path) -> None:
    found = [{**row, "owner": f"o-{row['animal_id']}"} for row in rows()]
    write_rows(tmp_path, found)
    setup = FoldSetup(FOLDS, "transform", "owner", "train", PROVENANCE, "test")
    groups, _ = read_samples(tmp_path, setup)
    assert groups["a03_0"] == "o-a03" and set(groups.values()) == {f"o-{a}" for a in ANIMALS}


def test_test_split_lines_need_no_group_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    write_lines(
        tmp_path,
        [
            json.dumps({"id": "s1", "animal_id": "g1", "split": "train"}),
            "",
            "   ",
            json.dumps({"id": "s2", "split": "test"}),
            json.dumps({"id": "s3", "animal_id": "g2", "split": "validation"}),
        ],
    )
    assert read_samples(tmp_path, SETUP) == ({"s1": "g1", "s3": "g2"}, ["s2"])


def test_a_line_that_is_not_json_is_named_by_file_and_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path, [json.dumps(rows()[0]), "{not json"])
    with pytest.raises(ReplicateError, match=rf"{re.escape(str(path))}:2: not JSON") as e:
        read_samples(tmp_path, SETUP)
    assert "pedigree run" in (e.value.hint or "")


@pytest.mark.parametrize(
    "line",
    [
        {"id": "s1", "split": "train"},
        {"id": "s1", "animal_id": "", "split": "train"},
        {"id": "s1", "animal_id": 7, "split": "validation"},
    ],
)
def test_a_line_without_a_group_is_refused(tmp_path: Path, line: dict[str, Any]) -> None:
    path = write_lines(tmp_path, [json.dumps(rows()[0]), json.dumps(line)])
    with pytest.raises(
        ReplicateError, match=rf"{re.escape(str(path))}:2: sample 's1' has no group \(animal_id\)"
    ) as e:
        read_samples(tmp_path, SETUP)
    assert "groupKey" in (e.value.hint or "")


@pytest.mark.parametrize("line", ['{"split": "train"}', '{"id": 1, "split": "train"}', "[1, 2]"])
def test_a_line_without_an_id_or_split_is_refused(tmp_path: Path, line: str) -> None:
    path = write_lines(tmp_path, [line])
    with pytest.raises(
        ReplicateError, match=rf"{re.escape(str(path))}:1: a line without a text id and split"
    ):
        read_samples(tmp_path, SETUP)


def test_a_sample_listed_twice_is_refused(tmp_path: Path) -> None:
    first = rows()[0]
    path = write_rows(tmp_path, [first, rows()[1], {**first, "split": "validation"}])
    with pytest.raises(
        ReplicateError, match=rf"{re.escape(str(path))}:3: sample 'a00_0' is listed twice"
    ):
        read_samples(tmp_path, SETUP)


def test_a_missing_provenance_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReplicateError, match=r"provenance\.jsonl is unreadable") as e:
        read_samples(tmp_path, SETUP)
    assert "pedigree run" in (e.value.hint or "")


# --- the plan --------------------------------------------------------------------------------


def test_too_many_folds_name_the_largest_k(project: Path) -> None:
    with pytest.raises(
        ReplicateError,
        match=r"--folds 13: 13 folds need at least 13 groups.*largest k possible is 12",
    ):
        plan_folds(project, SETUP, 13)
    assert plan_folds(project, SETUP, 12).k == 12


def test_a_test_sample_among_the_samples_to_fold_is_refused(tmp_path: Path) -> None:
    found = rows()
    write_rows(tmp_path, [*found, {"id": "a00_0", "animal_id": "t0", "split": "test"}])
    with pytest.raises(ReplicateError, match=r"--folds 3: 1 sample\(s\) of the test split"):
        plan_folds(tmp_path, SETUP, 3)


def test_the_plan_folds_every_sample_outside_the_test_split(project: Path) -> None:
    plan = plan_folds(project, SETUP, 4)
    groups, test = read_samples(project, SETUP)
    assert plan.k == 4 and plan.seed == FOLDS.seed == 3
    assert plan.excluded == tuple(sorted(test))
    assert sorted(s for fold in plan.folds for s in fold.samples) == sorted(groups)
    assert sorted(g for fold in plan.folds for g in fold.groups) == sorted(ANIMALS)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_each_folds_split_map(project: Path, k: int) -> None:
    plan = plan_folds(project, SETUP, k)
    for fold in range(k):
        doc = assignment(plan, fold, SETUP)
        assert doc["schema"] == ASSIGNMENT_SCHEMA == "pedigree.fold-assignment/v1"
        assert doc["k"] == k and doc["fold"] == fold and doc["plan"] == plan.digest()
        splits = doc["splits"]
        assert list(splits) == sorted(["test", "train", "validation", "calibration"])
        assert splits["test"] == list(plan.fold(fold).groups)  # the held-out fold, exactly
        others = sorted(g for f in plan.folds if f.index != fold for g in f.groups)
        inner = [g for name in ("train", "validation", "calibration") for g in splits[name]]
        assert sorted(inner) == others and len(inner) == len(set(inner))  # a partition
        assert all(splits[name] for name in ("train", "validation", "calibration"))
        named = {g for groups in splits.values() for g in groups}
        assert not named & set(TEST_ANIMALS)  # no test-split group anywhere
        assert assignment(plan, fold, SETUP) == doc  # stable
        assert assignment(plan_folds(project, SETUP, k), fold, SETUP) == doc


def test_a_fold_with_too_few_groups_for_the_inner_splits(tmp_path: Path) -> None:
    write_rows(tmp_path, [r for r in rows() if r["animal_id"] in ("a00", "a01", "a02", "t0")])
    plan = plan_folds(tmp_path, SETUP, 3)
    with pytest.raises(ReplicateError, match=r"--folds 3: fold 0 leaves 2 group\(s\) outside it"):
        assignment(plan, 0, SETUP)


def test_the_split_map_is_named_by_its_own_sha256(project: Path) -> None:
    doc = assignment(plan_folds(project, SETUP, 3), 1, SETUP)
    name, text = assignment_text(doc)
    digest = hashlib.sha256(text.encode("ascii")).hexdigest()
    assert name == f"folds/{digest[:16]}.json"
    assert text.endswith("}\n") and json.loads(text) == doc
    assert assignment_text(json.loads(text)) == (name, text)
    other = assignment_text(assignment(plan_folds(project, SETUP, 3), 2, SETUP))[0]
    assert other != name


# --- the kept plan ---------------------------------------------------------------------------


def test_a_saved_plan_loads_back(project: Path) -> None:
    plan = plan_folds(project, SETUP, 4)
    path = save_plan(project, plan)
    assert path == project / PLANS / f"plan-{plan.digest()}.json"
    assert path.read_text(encoding="utf-8").endswith("\n")
    loaded = load_plan(project, plan.digest())
    assert loaded == plan and loaded.digest() == plan.digest()
    assert save_plan(project, plan) == path  # already there: kept


def test_a_changed_plan_is_refused(project: Path) -> None:
    plan = plan_folds(project, SETUP, 4)
    path = save_plan(project, plan)
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["groups"]["a00_0"] = "a01"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(
        FoldError, match=rf"is not the fold plan {plan.digest()[:12]}: it was changed"
    ):
        load_plan(project, plan.digest())


def test_a_missing_or_broken_plan_is_refused(project: Path) -> None:
    plan = plan_folds(project, SETUP, 4)
    with pytest.raises(
        FoldError, match=rf"the fold plan .*plan-{plan.digest()}\.json is unreadable"
    ):
        load_plan(project, plan.digest())
    save_plan(project, plan).write_text("{broken", encoding="utf-8")
    with pytest.raises(FoldError, match=r"is unreadable"):
        load_plan(project, plan.digest())
