"""Grouped K-fold for `replicate --folds`: fold assignment, the nested inner split, isolation."""

from __future__ import annotations

import json
import random

import pytest

from pedigree.errors import PedigreeError
from pedigree.replicate.folds import (
    FoldError,
    FoldPlan,
    assign_folds,
    check_isolation,
)


def random_groups(rng: random.Random) -> dict[str, str]:
    """Samples with groups of uneven sizes (1..8 samples), ids not in group order."""
    groups: dict[str, str] = {}
    for g in range(rng.randint(5, 40)):
        for _ in range(rng.randint(1, 8)):
            groups[f"img-{rng.getrandbits(40):010x}"] = f"animal-{g:03d}"
    return groups


def sizes_of(groups: dict[str, str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for group in groups.values():
        found[group] = found.get(group, 0) + 1
    return found


def test_every_sample_and_group_is_held_out_exactly_once_and_folds_balance() -> None:
    rng = random.Random(16)
    for _ in range(60):
        groups = random_groups(rng)
        sizes = sizes_of(groups)
        k = rng.randint(2, min(8, len(sizes)))
        plan = assign_folds(groups, k, seed=rng.randint(0, 99))
        assert plan.k == k and [f.index for f in plan.folds] == list(range(k))
        held_samples = [s for fold in plan.folds for s in fold.samples]
        held_groups = [g for fold in plan.folds for g in fold.groups]
        assert sorted(held_samples) == sorted(groups)  # each sample in exactly one fold
        assert sorted(held_groups) == sorted(sizes)  # each group in exactly one fold
        for fold in plan.folds:
            assert {groups[s] for s in fold.samples} == set(fold.groups)
            assert list(fold.samples) == sorted(fold.samples)
            assert list(fold.groups) == sorted(fold.groups)
            assert fold.groups  # no empty fold
        counts = [len(fold.samples) for fold in plan.folds]
        assert max(counts) - min(counts) <= max(sizes.values())


def test_the_plan_does_not_depend_on_input_order_and_is_the_same_every_run() -> None:
    rng = random.Random(7)
    for _ in range(20):
        groups = random_groups(rng)
        k = min(4, len(sizes_of(groups)))
        plan = assign_folds(groups, k, seed=3)
        items = list(groups.items())
        rng.shuffle(items)
        again = assign_folds(dict(items), k, seed=3)
        assert again == plan and again.digest() == plan.digest()
        assert again.to_dict() == plan.to_dict()


def test_a_known_plan_is_stable_across_runs() -> None:
    groups = {f"s{i:02d}": f"g{i // 3}" for i in range(30)}  # 10 groups of 3
    plan = assign_folds(groups, 5, seed=1)
    assert [len(f.samples) for f in plan.folds] == [6, 6, 6, 6, 6]
    # sha256 order is fixed: the same plan, the same digest on every machine and run
    assert plan.digest() == assign_folds(dict(reversed(groups.items())), 5, seed=1).digest()
    assert len(plan.digest()) == 64 and int(plan.digest(), 16) >= 0
    doc = json.loads(json.dumps(plan.to_dict()))
    assert FoldPlan.from_dict(doc) == plan and FoldPlan.from_dict(doc).digest() == plan.digest()
    assert doc["k"] == 5 and doc["seed"] == 1 and doc["excluded"] == []
    assert "grouped" in doc["method"]


def test_the_seed_changes_the_plan() -> None:
    groups = {f"s{i:03d}": f"g{i % 40}" for i in range(200)}
    plans = {assign_folds(groups, 5, seed=seed).digest() for seed in range(5)}
    assert len(plans) == 5
    first, second = assign_folds(groups, 5, seed=0), assign_folds(groups, 5, seed=1)
    assert [f.groups for f in first.folds] != [f.groups for f in second.folds]


def test_the_test_split_is_recorded_and_never_folded() -> None:
    groups = {f"s{i}": f"g{i}" for i in range(6)}
    plan = assign_folds(groups, 3, seed=0, excluded=["t2", "t1", "t1"])
    assert plan.excluded == ("t1", "t2")
    assert not {"t1", "t2"} & {s for f in plan.folds for s in f.samples}
    with pytest.raises(FoldError, match=r"1 sample\(s\) of the test split are among .*: s3"):
        assign_folds(groups, 3, seed=0, excluded=["s3"])


def test_k_below_two_is_refused() -> None:
    groups = {"a": "g1", "b": "g2"}
    for k in (1, 0, -3):
        with pytest.raises(FoldError, match=r"k-fold needs k >= 2 folds, not"):
            assign_folds(groups, k, seed=0)
    assert issubclass(FoldError, PedigreeError)


def test_too_few_groups_says_how_many_and_the_largest_k() -> None:
    groups = {f"s{i}": f"g{i % 3}" for i in range(12)}
    with pytest.raises(
        FoldError,
        match=r"5 folds need at least 5 groups, and the 12 samples have 3: the largest k possible is 3",
    ) as err:
        assign_folds(groups, 5, seed=0)
    assert err.value.message.endswith("the largest k possible is 3")
    assert "groupKey" in str(err.value.hint)
    with pytest.raises(
        FoldError, match=r"have 1: the largest k possible is 1 \(k-fold needs at least 2\)"
    ):
        assign_folds({"a": "g", "b": "g"}, 2, seed=0)
    with pytest.raises(FoldError, match=r"the 0 samples have 0"):
        assign_folds({}, 2, seed=0)


def test_empty_ids_are_refused() -> None:
    with pytest.raises(FoldError, match=r"a sample id is empty or not text: ''"):
        assign_folds({"": "g1", "b": "g2"}, 2, seed=0)
    with pytest.raises(FoldError, match=r"sample 'b' has an empty group id"):
        assign_folds({"a": "g1", "b": ""}, 2, seed=0)


def test_inner_split_is_by_group_without_the_held_out_fold_and_near_the_shares() -> None:
    rng = random.Random(5)
    for _ in range(30):
        groups = {}
        for g in range(rng.randint(30, 60)):
            for _ in range(rng.randint(1, 4)):
                groups[f"img-{rng.getrandbits(40):010x}"] = f"a{g}"
        plan = assign_folds(groups, 5, seed=rng.randint(0, 9))
        for fold in plan.folds:
            inner = plan.inner_split(fold.index, {"validation": 0.2, "calibration": 0.1})
            train, validation, calibration = (
                inner.part(name) for name in ("train", "validation", "calibration")
            )
            parts = (train.samples, validation.samples, calibration.samples)
            together = [s for part in parts for s in part]
            assert sorted(together) == sorted(plan.rest(fold.index))  # a partition of the rest
            assert not set(together) & set(fold.samples)  # the held-out fold never appears
            part_groups = [{groups[s] for s in part} for part in parts]
            for i in range(3):
                for j in range(i + 1, 3):
                    assert not part_groups[i] & part_groups[j]  # no group in two parts
            assert part_groups[0] == set(train.groups)
            assert part_groups[1] == set(validation.groups)
            assert part_groups[2] == set(calibration.groups)
            assert not set(train.groups) & set(fold.groups)
            n = len(together)
            # roughly the asked shares: within a few groups (at most 4 samples each)
            assert abs(len(validation.samples) - 0.2 * n) <= 8
            assert abs(len(calibration.samples) - 0.1 * n) <= 8
            assert inner == plan.inner_split(
                fold.index, {"validation": 0.2, "calibration": 0.1}
            )  # deterministic


def test_inner_split_shares_and_folds_are_checked() -> None:
    plan = assign_folds({f"s{i}": f"g{i}" for i in range(10)}, 5, seed=0)
    with pytest.raises(FoldError, match=r"must add up to less than 1"):
        plan.inner_split(0, {"validation": 0.6, "calibration": 0.4})
    with pytest.raises(FoldError, match=r"the validation share must be in \[0, 1\), not -0.1"):
        plan.inner_split(0, {"validation": -0.1, "calibration": 0.1})
    with pytest.raises(FoldError, match=r"there is no fold 5: the folds are 0..4"):
        plan.inner_split(5, {"validation": 0.2, "calibration": 0.1})
    no_calibration = plan.inner_split(1, {"validation": 0.25, "calibration": 0.0})
    assert no_calibration.part("calibration").samples == ()
    assert no_calibration.part("validation").samples
    with pytest.raises(FoldError, match=r"fold 1's inner split has no part 'test'"):
        no_calibration.part("test")
    with pytest.raises(FoldError, match=r"'train' gets what the shares leave: give it no share"):
        plan.inner_split(0, {"train": 0.5})
    renamed = plan.inner_split(0, {"dev": 0.3}, train="fit")
    assert [p.name for p in renamed.parts] == ["fit", "dev"]
    small = assign_folds({f"s{i}": f"g{i}" for i in range(4)}, 2, seed=0)
    with pytest.raises(
        FoldError,
        match=r"fold 0 leaves 2 group\(s\) outside it, too few for train, validation, calibration",
    ):
        small.inner_split(0, {"validation": 0.2, "calibration": 0.2})
    empty = small.inner_split(0, {"validation": 0.5, "calibration": 0.0})
    assert empty.to_dict()["calibration"] == {"groups": [], "samples": []}


def test_check_isolation_passes_a_clean_fold() -> None:
    groups = {f"s{i:02d}": f"g{i // 2}" for i in range(40)}
    plan = assign_folds(groups, 4, seed=2, excluded=["t1"])
    for fold in plan.folds:
        inner = plan.inner_split(fold.index, {"validation": 0.2, "calibration": 0.1})
        train, validation = inner.part("train").samples, inner.part("validation").samples
        reached = {
            "tune": train + validation,
            "train": train + validation,
            "calibrate": inner.part("calibration").samples,
        }
        assert check_isolation(plan, fold.index, reached) == []


def test_check_isolation_finds_a_planted_leak() -> None:
    groups = {f"s{i:02d}": f"g{i // 2}" for i in range(40)}
    plan = assign_folds(groups, 4, seed=2, excluded=["t1"])
    fold = plan.folds[1]
    inner = plan.inner_split(1, {"validation": 0.2, "calibration": 0.1})
    leaked = list(fold.samples[:5])
    train, validation = inner.part("train").samples, inner.part("validation").samples
    reached = {
        "calibrate": inner.part("calibration").samples,
        "tune": train + validation + tuple(leaked),
        "train": train,
    }
    found = check_isolation(plan, 1, reached)
    assert found == [
        f"fold 1: 5 held-out sample(s) reached tune: {', '.join(sorted(leaked)[:3])}, ..."
    ]
    one = check_isolation(plan, 1, {"train": [fold.samples[0]], "tune": ["t1", "x9"]})
    assert one == [
        "fold 1: 1 sample(s) of the test split reached tune: t1",
        "fold 1: 1 sample(s) the fold plan does not hold reached tune: x9",
        f"fold 1: 1 held-out sample(s) reached train: {fold.samples[0]}",
    ]


def test_check_isolation_finds_a_group_split_between_held_out_and_the_rest() -> None:
    groups = {f"s{i:02d}": f"g{i // 2}" for i in range(12)}
    plan = assign_folds(groups, 3, seed=0)
    doc = plan.to_dict()
    # move one sample of a held-out group of fold 0 into fold 1: the group is now split
    moved = doc["folds"][0]["samples"].pop()
    doc["folds"][1]["samples"].append(moved)
    tampered = FoldPlan.from_dict(doc)
    assert tampered.digest() != plan.digest()
    found = check_isolation(tampered, 0, {"train": tampered.rest(0)})
    assert found == [
        f"fold 0: group '{groups[moved]}' is split between the held-out fold and the rest: "
        f"1 of its sample(s) are not held out: {moved}"
    ]
    assert check_isolation(plan, 0, {"train": plan.rest(0)}) == []


def test_from_dict_refuses_what_is_not_a_plan() -> None:
    with pytest.raises(FoldError, match=r"not a fold plan"):
        FoldPlan.from_dict({"k": 2})
