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

from pedigree.errors import SourceError
from pedigree.foldmap import SCHEMA as GROUP_MAP_SCHEMA
from pedigree.replicate.foldruns import ASSIGNMENT_SCHEMA, assignment_text
from stages.transform.params import SPLITS, SplitParams
from stages.transform.split import (
    assign_splits,
    bucket_of,
    group_by_split,
    load_group_map,
    split_of,
)

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


# --- a fold's group -> split map (transform.split.groups, `pedigree replicate --folds`) -------


def write_map(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_a_group_map_is_read_animal_by_animal(tmp_path: Path) -> None:
    path = write_map(
        tmp_path / "map.json",
        {
            "schema": "pedigree.fold-assignment/v1",
            "k": 3,
            "fold": 1,
            "plan": "ab" * 32,
            "splits": {
                "train": ["a1", "a2"],
                "validation": ["a3"],
                "calibration": [],
                "test": ["a4"],
            },
        },
    )
    assert load_group_map(path) == {"a1": "train", "a2": "train", "a3": "validation", "a4": "test"}
    assert GROUP_MAP_SCHEMA == ASSIGNMENT_SCHEMA  # what `replicate --folds` writes


def test_the_map_replicate_writes_is_read_back(tmp_path: Path) -> None:
    doc = {"schema": ASSIGNMENT_SCHEMA, "splits": {"test": ["g1"], "train": ["g2", "g3"]}}
    _, text = assignment_text(doc)
    (tmp_path / "map.json").write_text(text, encoding="ascii")
    assert load_group_map(tmp_path / "map.json") == {"g1": "test", "g2": "train", "g3": "train"}


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ({"splits": {}}, r"map\.json is not a pedigree\.fold-assignment/v1 file"),
        (
            {"schema": "pedigree.fold-assignment/v2", "splits": {}},
            r"is not a pedigree\.fold-assignment/v1",
        ),
        ([1, 2], r"map\.json is not a pedigree\.fold-assignment/v1 file"),
        (
            {"schema": GROUP_MAP_SCHEMA},
            r"map\.json \[splits\]: expected a map of split -> group ids",
        ),
        ({"schema": GROUP_MAP_SCHEMA, "splits": ["a1"]}, r"\[splits\]: expected a map of split"),
        (
            {"schema": GROUP_MAP_SCHEMA, "splits": {"holdout": ["a1"]}},
            r"map\.json \[splits\.holdout\]: not a split of this stage \(train, validation, calibration, test\)",
        ),
        (
            {"schema": GROUP_MAP_SCHEMA, "splits": {"train": "a1"}},
            r"map\.json \[splits\.train\]: expected a list of group ids",
        ),
        (
            {"schema": GROUP_MAP_SCHEMA, "splits": {"train": ["a1", ""]}},
            r"\[splits\.train\]: expected a list of group ids",
        ),
        (
            {"schema": GROUP_MAP_SCHEMA, "splits": {"test": ["a1", 2]}},
            r"\[splits\.test\]: expected a list of group ids",
        ),
        (
            {"schema": GROUP_MAP_SCHEMA, "splits": {"train": ["a1", "a2"], "test": ["a2"]}},
            r"map\.json: group 'a2' is in both test and train",
        ),
        (
            {"schema": GROUP_MAP_SCHEMA, "splits": {"train": ["a1", "a1"]}},
            r"map\.json: group 'a1' is listed twice in train",
        ),
    ],
)
def test_a_bad_group_map_is_refused(tmp_path: Path, doc: object, match: str) -> None:
    path = write_map(tmp_path / "map.json", doc)
    with pytest.raises(SourceError, match=match) as caught:
        load_group_map(path)
    assert "pedigree replicate --folds" in (caught.value.hint or "")


def test_a_missing_group_map_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        SourceError, match=r"nowhere\.json \(transform\.split\.groups\) does not exist"
    ):
        load_group_map(tmp_path / "nowhere.json")


def test_a_group_map_that_is_not_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "map.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(SourceError, match=r"map\.json \(transform\.split\.groups\) is unreadable"):
        load_group_map(tmp_path / "map.json")


def test_a_chosen_map_decides_the_splits_and_leaves_out_the_rest() -> None:
    samples = [(f"img{i:03d}", f"animal-{i % 7}") for i in range(70)]
    chosen = {
        "animal-0": "test",
        "animal-1": "train",
        "animal-2": "train",
        "animal-3": "validation",
        "animal-5": "calibration",
    }  # animal-4 and animal-6 (the fixed test split's) are left out
    groups, assignment = group_by_split(samples, lambda s: s[1], DEFAULT, chosen=chosen)
    assert set(groups) == set(SPLITS)
    for split in SPLITS:
        wanted = [s for s in samples if chosen.get(s[1]) == split]
        assert groups[split] == wanted  # the map's animals, in input order
    kept = [s for members in groups.values() for s in members]
    assert not [s for s in kept if s[1] in ("animal-4", "animal-6")]
    assert len(kept) == 50
    assert set(assignment) == set(chosen)
    for animal, split in chosen.items():
        assert assignment[animal] == (bucket_of(animal, DEFAULT.buckets), split)


def test_an_empty_chosen_map_keeps_nothing() -> None:
    samples = [("x", "a"), ("y", "b")]
    groups, assignment = group_by_split(samples, lambda s: s[1], DEFAULT, chosen={})
    assert groups == {split: [] for split in SPLITS} and assignment == {}
