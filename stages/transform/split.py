"""Group-aware, deterministic train/validation/calibration/test split.

The split is decided by the *animal*, not the image: several photos of one pet must never be
spread over train and test, or test scores measure memorised animals. The bucket is
`int(md5(animal_id).hexdigest(), 16) % buckets`: md5 (not Python's salted `hash()`) gives the same
answer in every process, machine and Python version, and adding or removing other animals never
moves an animal to another split. md5 is used as a well-spread mixing function, not for security.


A fold of `pedigree replicate --folds` replaces the buckets by an explicit map (`load_group_map`,
params `transform.split.groups`): each listed animal goes to the split the map names, and an
animal the map leaves out (the fixed test split's) is left out of every split.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

from pedigree.stagekit import read_fold_map
from stages.transform.params import SPLITS, SplitParams

T = TypeVar("T")


def bucket_of(animal_id: str, buckets: int) -> int:
    """The bucket (0..buckets-1) of one animal id: md5 of its UTF-8 bytes, modulo `buckets`."""
    digest = hashlib.md5(animal_id.encode("utf-8"), usedforsecurity=False).hexdigest()
    return int(digest, 16) % buckets


def split_of(animal_id: str, params: SplitParams) -> str:
    """The split name ('train', 'validation', 'calibration' or 'test') of one animal id."""
    return params.table()[bucket_of(animal_id, params.buckets)]


def assign_splits(animal_ids: Iterable[str], params: SplitParams) -> dict[str, tuple[int, str]]:
    """Map each distinct animal id to (bucket, split name); pure and order-independent."""
    table = params.table()  # computed once: the per-id cost is then one md5
    out: dict[str, tuple[int, str]] = {}
    for animal_id in animal_ids:
        if animal_id not in out:
            bucket = bucket_of(animal_id, params.buckets)
            out[animal_id] = (bucket, table[bucket])
    return out


def load_group_map(path: Path) -> dict[str, str]:
    """animal id -> split from a fold's split map (`pedigree.stagekit.read_fold_map`);
    SourceError saying what is wrong with it."""
    return read_fold_map(path, SPLITS, "transform.split.groups")


def group_by_split(
    samples: Iterable[T],
    animal_of: Callable[[T], str],
    params: SplitParams,
    chosen: Mapping[str, str] | None = None,
) -> tuple[dict[str, list[T]], dict[str, tuple[int, str]]]:
    """Group samples by the split of their animal, keeping the input order within each split.

    With `chosen` (animal id -> split, a fold's map) an animal's split comes from it and an
    animal missing from it is left out; its bucket is still recorded. Returns (split ->
    samples, animal id -> (bucket, split)) for the samples kept. Every split in SPLITS is a
    key, possibly with an empty list, so callers can rely on all four.
    """
    items = list(samples)
    assignment = assign_splits((animal_of(item) for item in items), params)
    if chosen is not None:
        assignment = {a: (b, chosen[a]) for a, (b, _) in assignment.items() if a in chosen}
    groups: dict[str, list[T]] = {split: [] for split in SPLITS}
    for item in items:
        placed = assignment.get(animal_of(item))
        if placed is not None:
            groups[placed[1]].append(item)
    return groups, assignment
