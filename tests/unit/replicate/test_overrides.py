"""`pedigree replicate --set KEY=VALUE`: params changed for the replicates only."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from pedigree.replicate.overrides import (
    apply_overrides,
    get_key,
    parse_overrides,
    set_key,
    without_key,
)
from pedigree.replicate.upstream import ReplicateError

PARAMS: dict[str, Any] = {
    "determinism": {"seed": 1234, "intra_op_threads": 2},
    "train": {"epochs": 30, "learning_rate": 0.001, "batch_sizes": [8], "note": "x"},
    "tune": {"trials": 20, "space": {"dropout": [0.1, 0.3]}},
    "transform": {"split": {"buckets": 10, "groups": None}},
}
RESERVED = ("determinism.seed", "transform.split.groups")


def parse(*items: str) -> dict[str, Any]:
    return parse_overrides(list(items), PARAMS, RESERVED)


def test_values_are_read_as_yaml_and_keys_sorted() -> None:
    found = parse(
        "train.epochs=2",
        "train.learning_rate=0.5",
        "train.batch_sizes=[16, 32]",
        "tune.trials=",
        "train.note=hello world",
        "tune.space.dropout=null",
    )
    assert found == {
        "train.batch_sizes": [16, 32],
        "train.epochs": 2,
        "train.learning_rate": 0.5,
        "train.note": "hello world",
        "tune.space.dropout": None,
        "tune.trials": None,
    }
    assert list(found) == sorted(found)
    assert isinstance(found["train.epochs"], int) and isinstance(
        found["train.learning_rate"], float
    )


def test_a_value_may_hold_equals_signs_and_keys_are_stripped() -> None:
    assert parse(" train.note =a=b") == {"train.note": "a=b"}
    assert parse("train.epochs=   ") == {"train.epochs": None}


def test_nothing_to_set_is_nothing() -> None:
    assert parse() == {}


@pytest.mark.parametrize(
    ("item", "match"),
    [
        ("train.epochs", r"--set: 'train.epochs' is not SECTION\.KEY=VALUE"),
        ("epochs=2", r"--set: 'epochs=2' is not SECTION\.KEY=VALUE"),
        ("=2", r"--set: '=2' is not SECTION\.KEY=VALUE"),
        ("train..epochs=2", r"--set: 'train\.\.epochs=2' is not SECTION\.KEY=VALUE"),
        (".epochs=2", r"--set: '\.epochs=2' is not SECTION\.KEY=VALUE"),
        ("train.epoch=2", r"--set: params\.yaml has no key train\.epoch"),
        ("training.epochs=2", r"--set: params\.yaml has no key training\.epochs"),
        ("train.epochs.max=2", r"--set: params\.yaml has no key train\.epochs\.max"),
    ],
)
def test_bad_keys_are_refused(item: str, match: str) -> None:
    with pytest.raises(ReplicateError, match=match) as caught:
        parse(item)
    assert caught.value.exit_code == 2 and "--set train.epochs=2" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("item", "key"),
    [
        ("determinism.seed=7", "determinism.seed"),  # the seed itself
        ("transform.split.groups=x.json", "transform.split.groups"),  # the fold's split map
        ("determinism.seed.low=7", "determinism.seed.low"),  # a key under a reserved one
        ("transform.split={buckets: 4}", "transform.split"),  # a parent of a reserved one
    ],
)
def test_keys_replicate_sets_itself_are_refused(item: str, key: str) -> None:
    with pytest.raises(
        ReplicateError,
        match=rf"--set: {re.escape(key)} is set by replicate itself \(the seed or",
    ) as caught:
        parse(item)
    assert "--seeds" in (caught.value.hint or "") and "--folds" in (caught.value.hint or "")


def test_a_reserved_prefix_is_not_a_parent() -> None:
    # determinism.seed_like is neither the seed nor under it
    params = {"determinism": {"seed": 1, "seed_like": 2}}
    assert parse_overrides(["determinism.seed_like=3"], params, RESERVED) == {
        "determinism.seed_like": 3
    }


def test_a_key_given_twice_is_refused() -> None:
    with pytest.raises(ReplicateError, match=r"--set: train\.epochs is given twice"):
        parse("train.epochs=2", "train.epochs=3")


@pytest.mark.parametrize("value", ["[1, 2", "{a: 1", "a: b: c", "'open"])
def test_a_value_that_is_not_yaml_is_refused(value: str) -> None:
    with pytest.raises(ReplicateError, match=r"--set: the value of train\.note is not YAML") as c:
        parse(f"train.note={value}")
    assert "quote it" in (c.value.hint or "")


def test_get_key_finds_nested_keys() -> None:
    assert get_key(PARAMS, "train.epochs") == (True, 30)
    assert get_key(PARAMS, "tune.space.dropout") == (True, [0.1, 0.3])
    assert get_key(PARAMS, "transform.split.groups") == (True, None)  # present, null
    assert get_key(PARAMS, "train") == (True, PARAMS["train"])
    assert get_key(PARAMS, "train.missing") == (False, None)
    assert get_key(PARAMS, "train.epochs.deeper") == (False, None)  # 30 is no mapping
    assert get_key(PARAMS, "nothing.here") == (False, None)


def test_set_key_makes_the_missing_levels() -> None:
    data: dict[str, Any] = {"train": {"epochs": 30}, "flat": 3}
    set_key(data, "train.epochs", 2)
    set_key(data, "a.b.c", [1])
    set_key(data, "flat.inner", "x")  # a non-mapping level is replaced
    assert data == {"train": {"epochs": 2}, "a": {"b": {"c": [1]}}, "flat": {"inner": "x"}}


def test_apply_overrides_copies_and_ignores_sections_not_present() -> None:
    sections = {"train": copy.deepcopy(PARAMS["train"]), "tune": copy.deepcopy(PARAMS["tune"])}
    before = copy.deepcopy(sections)
    overrides = {"train.epochs": 2, "tune.space.dropout": [0.2], "transform.split.buckets": 4}
    result = apply_overrides(sections, overrides)
    assert sections == before  # not changed in place, nested levels included
    assert result["train"] == {**before["train"], "epochs": 2}
    assert result["tune"] == {"trials": 20, "space": {"dropout": [0.2]}}
    assert "transform" not in result  # the stages do not read it: not added
    assert result["train"]["batch_sizes"] is not sections["train"]["batch_sizes"]


def test_without_key_removes_a_nested_key_from_a_copy() -> None:
    before = copy.deepcopy(PARAMS)
    result = without_key(PARAMS, "transform.split.groups")
    assert result["transform"] == {"split": {"buckets": 10}}
    assert result["train"] == PARAMS["train"]
    assert before == PARAMS  # the input is untouched
    assert without_key(PARAMS, "nothing.there.at_all") == PARAMS
    assert without_key(PARAMS, "train.epochs.deeper") == PARAMS  # 30 has no keys
    assert without_key(PARAMS, "train.epochs")["train"] == {
        "learning_rate": 0.001,
        "batch_sizes": [8],
        "note": "x",
    }
