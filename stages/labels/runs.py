"""Reading one folder of out-of-fold predictions (`pedigree.predictions/v1`), checked in full.

A run folder, as the evaluate stage writes it for each fold x seed of `pedigree replicate
--folds K`:

    index.json         {"schema": "pedigree.predictions/v1", "split": ..., "ids": [N ids],
                        "classes": [C names], "size": S, "calibrated": bool, "temperature": T}
    probabilities.npy  float16 (N, S, S, C): calibrated softmax probabilities, channel last
    labels.npy         uint8 (N, S, S): the given label of every pixel, a class index
    images.npy         uint8 (N, S, S, 3): the image at the same resolution (for the figure)

Everything is checked before a number is used, and every problem is a SourceError naming the
file and what is wrong: the audit ranks people's labels, so silently auditing garbage (a
transposed array, NaNs, labels out of range) would be worse than stopping.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pedigree.errors import SourceError
from pedigree.stagekit import BoundedReadError, read_bounded

SCHEMA = "pedigree.predictions/v1"
INDEX_JSON = "index.json"
PROBABILITIES_NPY = "probabilities.npy"
LABELS_NPY = "labels.npy"
IMAGES_NPY = "images.npy"
# index.json holds ids, a few hundred thousand at most: far below this; more is not ours.
MAX_INDEX_BYTES = 64 << 20
# float16 probabilities of a softmax sum to 1 within a few 1e-3 (each value is rounded to 11
# significant bits); further off they are not probabilities (logits, or another axis order).
SUM_TOLERANCE = 0.02
# The figure draws each class in a fixed colour and has this many.
MAX_CLASSES = 8
HINT = "re-run `pedigree replicate --folds K`, which writes this folder"


@dataclass(frozen=True)
class Run:
    """One run's predictions, as read: arrays in the file's own layout and dtype."""

    name: str
    split: str
    ids: tuple[str, ...]
    classes: tuple[str, ...]
    size: int
    probabilities: np.ndarray  # float16 (N, S, S, C)
    labels: np.ndarray  # uint8 (N, S, S)
    images: np.ndarray  # uint8 (N, S, S, 3)


def _fail(path: Path, what: str) -> SourceError:
    return SourceError(f"{path}: {what}", HINT)


def _read_index(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(read_bounded(path, MAX_INDEX_BYTES).decode("utf-8"))
    except FileNotFoundError:
        raise _fail(path, "is missing") from None
    except BoundedReadError as exc:
        raise _fail(path, str(exc)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise _fail(path, f"is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise _fail(path, f"must be a JSON object (got {type(doc).__name__})")
    if doc.get("schema") != SCHEMA:
        raise _fail(path, f"schema must be {SCHEMA!r} (got {doc.get('schema')!r})")
    return doc


def _strings(path: Path, doc: dict[str, Any], key: str) -> tuple[str, ...]:
    value = doc.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(path, f"{key!r} must be a list of non-empty strings")
    seen: set[str] = set()
    for item in value:
        if item in seen:
            raise _fail(path, f"{key!r} lists {item!r} twice")
        seen.add(item)
    return tuple(value)


def _check_index(path: Path, doc: dict[str, Any]) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(split, ids, classes) of a parsed index.json, or a SourceError naming the bad key."""
    split = doc.get("split")
    if not isinstance(split, str) or not split:
        raise _fail(path, f"'split' must be a non-empty string (got {split!r})")
    ids = _strings(path, doc, "ids")
    if not ids:
        raise _fail(path, "'ids' is empty: the run predicted no sample")
    classes = _strings(path, doc, "classes")
    if not 2 <= len(classes) <= MAX_CLASSES:
        raise _fail(path, f"'classes' must name 2 to {MAX_CLASSES} classes (got {len(classes)})")
    size = doc.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise _fail(path, f"'size' must be a positive integer (got {size!r})")
    if not isinstance(doc.get("calibrated"), bool):
        raise _fail(path, f"'calibrated' must be true or false (got {doc.get('calibrated')!r})")
    temperature = doc.get("temperature")
    # bool is an int in Python: `true` is not a temperature.
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not math.isfinite(temperature)
        or temperature <= 0
    ):
        raise _fail(path, f"'temperature' must be a positive number (got {temperature!r})")
    return split, ids, classes


def _load_array(path: Path, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """The .npy at `path`, refused unless it has exactly `dtype` and `shape`.

    Memory-mapped first, so the header is checked before any data is read (a wrong file is
    refused without loading it); object arrays are never unpickled.
    """
    if not path.is_file():
        raise _fail(path, "is missing" if not path.exists() else "is not a regular file")
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise _fail(path, f"is not a readable .npy array: {exc}") from None
    if not isinstance(mapped, np.ndarray):  # np.load of an .npz gives an archive
        raise _fail(path, "is not a single .npy array")
    if mapped.dtype != np.dtype(dtype):
        raise _fail(path, f"dtype must be {dtype} (got {mapped.dtype})")
    if mapped.shape != shape:
        raise _fail(path, f"shape must be {shape} (got {mapped.shape})")
    return np.array(mapped)  # a private in-memory copy; the map is closed with it


def _check_probabilities(path: Path, probs: np.ndarray) -> None:
    finite = np.isfinite(probs)
    if not finite.all():
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise _fail(path, f"holds non-finite values (first at index {where})")
    low, high = float(probs.min()), float(probs.max())
    if low < 0 or high > 1:
        raise _fail(path, f"values must lie in [0, 1] (got {low:g} to {high:g})")
    sums = probs.sum(axis=-1, dtype=np.float32)
    worst = float(np.abs(sums - 1).max())
    if worst > SUM_TOLERANCE:
        raise _fail(
            path,
            f"probabilities must sum to 1 over the last (class) axis (off by up to {worst:g}): "
            "expected channel-last softmax output",
        )


def read_run(folder: Path) -> Run:
    """Read and check one run folder; raise SourceError naming the file and the problem."""
    folder = Path(folder)
    index_path = folder / INDEX_JSON
    doc = _read_index(index_path)
    split, ids, classes = _check_index(index_path, doc)
    n, s, c = len(ids), int(doc["size"]), len(classes)
    probabilities = _load_array(folder / PROBABILITIES_NPY, "float16", (n, s, s, c))
    _check_probabilities(folder / PROBABILITIES_NPY, probabilities)
    labels = _load_array(folder / LABELS_NPY, "uint8", (n, s, s))
    if int(labels.max()) >= c:
        raise _fail(
            folder / LABELS_NPY,
            f"holds class index {int(labels.max())}, but index.json names only {c} classes",
        )
    images = _load_array(folder / IMAGES_NPY, "uint8", (n, s, s, 3))
    return Run(folder.name, split, ids, classes, s, probabilities, labels, images)


def run_folders(predictions: Path) -> list[Path]:
    """The run sub-folders of `predictions`, sorted by name (so every result is ordered)."""
    predictions = Path(predictions)
    if not predictions.is_dir():
        raise SourceError(
            f"{predictions} is not a folder of prediction runs",
            "run `pedigree replicate --folds K`, which writes predictions/<run>/",
        )
    # Hidden folders are scratch (e.g. a .partial- folder of a killed writer), never a run.
    folders = sorted(
        (p for p in predictions.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    if not folders:
        raise SourceError(
            f"{predictions} holds no prediction runs (no sub-folders)",
            "run `pedigree replicate --folds K`, which writes predictions/<run>/",
        )
    return folders
