"""Reading evaluate's predictions folder back, for the writer's tests: an oracle of the
pedigree.predictions/v1 contract that stages/evaluate/predictions.py writes (the label audit,
stages/labels/runs.py, is the real reader)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pedigree.errors import SourceError
from stages.evaluate.predictions import IMAGES, INDEX, LABELS, PROBABILITIES, SCHEMA


@dataclass(frozen=True)
class PredictionFiles:
    """A predictions folder read back: index.json and the three arrays."""

    index: dict[str, Any]
    probabilities: np.ndarray
    labels: np.ndarray
    images: np.ndarray


def read_predictions(folder: Path) -> PredictionFiles:
    """Read and check a predictions folder against the contract above; SourceError if not."""
    folder = Path(folder)
    hint = "re-run the evaluate stage"
    try:
        index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
        arrays = {
            name: np.load(folder / name, allow_pickle=False)
            for name in (PROBABILITIES, LABELS, IMAGES)
        }
    except FileNotFoundError as exc:
        raise SourceError(f"{folder} lacks {Path(str(exc.filename)).name}", hint) from None
    except ValueError as exc:
        raise SourceError(f"{folder} holds an unreadable file: {exc}", hint) from None
    if not isinstance(index, dict) or index.get("schema") != SCHEMA:
        raise SourceError(f"{folder / INDEX} is not a {SCHEMA} index", hint)
    ids, classes, size = index.get("ids"), index.get("classes"), index.get("size")
    if not isinstance(ids, list) or not isinstance(classes, list) or not isinstance(size, int):
        raise SourceError(f"{folder / INDEX}: ids, classes or size missing or mistyped", hint)
    n, c = len(ids), len(classes)
    expected = {
        PROBABILITIES: (np.float16, (n, size, size, c)),
        LABELS: (np.uint8, (n, size, size)),
        IMAGES: (np.uint8, (n, size, size, 3)),
    }
    for name, (dtype, shape) in expected.items():
        array = arrays[name]
        if array.dtype != dtype or tuple(array.shape) != shape:
            raise SourceError(
                f"{folder / name}: {array.dtype} {tuple(array.shape)}, expected "
                f"{np.dtype(dtype)} {shape}",
                hint,
            )
    return PredictionFiles(index, arrays[PROBABILITIES], arrays[LABELS], arrays[IMAGES])
