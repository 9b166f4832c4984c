"""The split: md5(animal id) % buckets -> split; stable, group-aware, honouring the bucket map."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from stages.transform.params import SPLITS, SplitParams
from stages.transform.split import assign_splits, bucket_of, group_by_split, split_of

ROOT = Path(__file__).resolve().parents[4]
DEFAULT = SplitParams(
    buckets=10, train=(0, 1, 2, 3, 4, 5, 6), validation=(7,), calibration=(8,), test=(9,)
)
IDS = [f"breed{i % 37}-a{i:05d}" for i in range(5000)]


def test_bucket_is_md5_of_utf8_modulo_buckets() -> None:
    for animal_id in ["Bengal-a0007", "pug-a0001", "Ünïcødé-猫", ""]:
        expected = int(hashlib.md5(animal_id.encode("utf-8")).hexdigest(), 16)
        assert bucket_of(animal_id, 10) == expected % 10
        assert bucket_of(animal_id, 7) == expected % 7


def test_split_is_stable_within_a_process() -> None:
    first = {a: split_of(a, DEFAULT) for a in IDS[:500]}
    again = {a: split_of(a, DEFAULT) for a in reversed(IDS[:500])}
    assert first == again


def test_split_is_stable_across_processes_and_hash_seeds() -> None:
    # Python's hash() is salted per process; the split must not be. Two seeds, same answer.
    code = (
        "import json, sys\n"
        "from stages.transform.params import SplitParams\n"
        "from stages.transform.split import split_of\n"
        "p = SplitParams(buckets=10, train=[0,1,2,3,4,5,6], validation=[7], calibration=[8],"
        " test=[9])\n"
        "ids = json.loads(sys.stdin.read())\n"
        "print(json.dumps({a: split_of(a, p) for a in ids}))\n"
    )
    here = {a: split_of(a, DEFAULT) for a in IDS[:300]}
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code],
            input=json.dumps(IDS[:300]),
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            check=True,
        )
        assert json.loads(done.stdout) == here


def test_all_images_of_an_animal_land_in_one_split() -> None:
    # 1000 animals with 1..6 images each, shuffled so an animal's images are not adjacent.
    samples = [(f"img{a}_{k}", f"animal-{a}") for a in range(1000) for k in range(1 + a % 6)]
    samples = sorted(samples, key=lambda s: hashlib.sha1(s[0].encode()).hexdigest())
    groups, assignment = group_by_split(samples, lambda s: s[1], DEFAULT)
    assert set(groups) == set(SPLITS)
    seen: dict[str, str] = {}
    for split, members in groups.items():
        for _, animal in members:
            assert seen.setdefault(animal, split) == split, f"{animal} is in two splits"
            assert assignment[animal][1] == split
    assert sum(len(m) for m in groups.values()) == len(samples)
    assert len(seen) == 1000


def test_grouping_keeps_input_order_within_a_split() -> None:
    samples = sorted((f"id{i:04d}", f"animal-{i // 3}") for i in range(300))
    groups, _ = group_by_split(samples, lambda s: s[1], DEFAULT)
    for members in groups.values():
        assert members == sorted(members)


def test_proportions_follow_the_bucket_map() -> None:
    counts = Counter(split_of(a, DEFAULT) for a in IDS)
    expected = {"train": 0.7, "validation": 0.1, "calibration": 0.1, "test": 0.1}
    for split, share in expected.items():
        assert abs(counts[split] / len(IDS) - share) < 0.03, (split, counts)


def test_custom_bucket_map_is_honoured() -> None:
    params = SplitParams(buckets=5, train=(4,), validation=(0, 2), calibration=(1,), test=(3,))
    table = {4: "train", 0: "validation", 2: "validation", 1: "calibration", 3: "test"}
    assignment = assign_splits(IDS, params)
    for animal_id in IDS:
        bucket = int(hashlib.md5(animal_id.encode()).hexdigest(), 16) % 5
        assert assignment[animal_id] == (bucket, table[bucket])
    counts = Counter(split for _, split in assignment.values())
    assert abs(counts["validation"] / len(IDS) - 0.4) < 0.03
    assert params.assignment() == {
        "train": [4],
        "validation": [0, 2],
        "calibration": [1],
        "test": [3],
    }


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"train": [0, 1, 2, 3, 4, 5, 6], "validation": [7], "calibration": [8], "test": [7]},
            r"bucket\(s\) 9 not assigned to any split .*"
            r"bucket 7 is assigned to validation and test",
        ),
        (
            {"train": [0, 1, 2, 3, 4, 5], "validation": [7], "calibration": [8], "test": [9]},
            r"bucket\(s\) 6 not assigned to any split \(add each to one of train, validation",
        ),
        (
            {"train": [0, 1, 2, 3, 4, 5, 6, 8], "validation": [7], "calibration": [8], "test": [9]},
            r"bucket 8 is assigned to train and calibration \(keep it in exactly one split",
        ),
        (
            {"train": [*range(7)], "validation": [7, 10], "calibration": [8], "test": [9]},
            r"bucket\(s\) 10 out of range: buckets go from 0 to 9",
        ),
        (
            {"train": [*range(7)], "validation": [-1, 7], "calibration": [8], "test": [9]},
            r"bucket\(s\) -1 out of range",
        ),
        (
            {"train": [0, 1, 2, 3, 4, 5, 6, 8], "validation": [7], "calibration": [], "test": [9]},
            r"split 'calibration' has no buckets",
        ),
        (
            {"train": [0, 1, 2, 3, 4, 5, 6, 6], "validation": [7], "calibration": [8], "test": [9]},
            r"bucket\(s\) 6 listed more than once in 'train'",
        ),
    ],
)
def test_invalid_bucket_maps_are_rejected(mapping: dict[str, list[int]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SplitParams.model_validate({"buckets": 10, **mapping})


def test_too_few_buckets_for_four_splits_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"buckets must be between 4 and 10000 \(got 3\)"):
        SplitParams.model_validate(
            {"buckets": 3, "train": [0], "validation": [1], "calibration": [2], "test": [2]}
        )
