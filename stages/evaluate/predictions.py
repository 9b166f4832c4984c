"""reports/predictions/: every test image's calibrated probabilities, label and pixels.

The label audit (`pedigree replicate --folds K`) reads this folder from each fold's evaluation,
so its format is a contract (schema pedigree.predictions/v1):

  index.json         {"schema": "pedigree.predictions/v1", "split": "test",
                      "ids": [N sample ids, in the order of the arrays], "classes": [C names],
                      "size": S, "calibrated": true, "temperature": T}
                     (sorted keys, indent 2, ASCII, a final newline; T rounded to 6 decimals)
  probabilities.npy  float16 (N, S, S, C): softmax(logits / T), channel last
  labels.npy         uint8 (N, S, S): the class index per pixel, as evaluate scores it
  images.npy         uint8 (N, S, S, 3): the model's input image before normalisation,
                     0..255 (the train split's mean/std undone, clipped to [0, 1], x 255,
                     rounded half to even)

S is the side evaluate scores at (params.yaml model.input_size). The arrays come from the
inference pass that computes the metrics (no second pass) and are written with `np.save`
(C-contiguous, allow_pickle=False): the same inputs give the same bytes. Never np.savez, whose
zip entries carry timestamps. Pure numpy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pedigree.errors import SourceError
from stages.common.metrics import CLASS_NAMES, log_softmax

FOLDER = "predictions"
SCHEMA = "pedigree.predictions/v1"
SPLIT = "test"
INDEX = "index.json"
PROBABILITIES = "probabilities.npy"
LABELS = "labels.npy"
IMAGES = "images.npy"
FILES = (IMAGES, INDEX, LABELS, PROBABILITIES)
DECIMALS = 6  # as metrics.json rounds the temperature


def calibrated_probabilities(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / temperature) over the last axis, as float16 (shape kept)."""
    logits = np.asarray(logits)
    probs = np.exp(log_softmax(logits.reshape(-1, logits.shape[-1]), temperature))
    return probs.reshape(logits.shape).astype(np.float16)


def image_pixels(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Normalised model inputs (..., 3) back to uint8 pixels 0..255.

    Undoes stages.common.data.model_input's `(pixels / 255 - mean) / std`; an image stored at the
    model's side comes back exactly as stored."""
    rgb = np.asarray(images, np.float64) * np.asarray(std, np.float64) + np.asarray(
        mean, np.float64
    )
    return np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)


@dataclass(frozen=True)
class Predictions:
    """Every test image in dataset order: ids, calibrated probabilities, labels, inputs."""

    ids: tuple[str, ...]
    temperature: float
    probabilities: np.ndarray  # float16 (N, S, S, C)
    labels: np.ndarray  # uint8 (N, S, S)
    images: np.ndarray  # float32 (N, S, S, 3), normalised as the model saw them


@dataclass
class PredictionCollector:
    """Keeps each batch's calibrated probabilities, labels and inputs (memory grows with N)."""

    temperature: float
    ids: list[str]
    probabilities: list[np.ndarray]
    labels: list[np.ndarray]
    images: list[np.ndarray]

    @classmethod
    def start(cls, temperature: float) -> PredictionCollector:
        """An empty collector for softmax(logits / temperature)."""
        return cls(temperature, [], [], [], [])

    def add(
        self, logits: np.ndarray, labels: np.ndarray, images: np.ndarray, ids: Sequence[str]
    ) -> None:
        """A checked batch: logits (B, H, W, C), labels 0..C-1 (B, H, W), inputs (B, H, W, 3)."""
        self.probabilities.append(calibrated_probabilities(logits, self.temperature))
        self.labels.append(np.asarray(labels).astype(np.uint8))
        self.images.append(np.asarray(images, np.float32))
        self.ids.extend(str(i) for i in ids)

    def result(self) -> Predictions:
        """All batches, concatenated in the order they came."""

        def joined(parts: list[np.ndarray], dtype: Any, tail: tuple[int, ...]) -> np.ndarray:
            if not parts:
                return np.zeros((0, *tail), dtype)
            return np.ascontiguousarray(np.concatenate(parts), dtype)

        return Predictions(
            ids=tuple(self.ids),
            temperature=float(self.temperature),
            probabilities=joined(self.probabilities, np.float16, (0, 0, len(CLASS_NAMES))),
            labels=joined(self.labels, np.uint8, (0, 0)),
            images=joined(self.images, np.float32, (0, 0, 3)),
        )


def index_document(
    ids: Sequence[str], classes: Sequence[str], size: int, temperature: float
) -> dict[str, Any]:
    """index.json's content."""
    return {
        "schema": SCHEMA,
        "split": SPLIT,
        "ids": [str(i) for i in ids],
        "classes": [str(c) for c in classes],
        "size": int(size),
        "calibrated": True,
        "temperature": round(float(temperature), DECIMALS) + 0.0,
    }


def _save(path: Path, array: np.ndarray) -> None:
    np.save(path, np.ascontiguousarray(array), allow_pickle=False)


def write_predictions(
    folder: Path,
    predictions: Predictions,
    mean: Sequence[float],
    std: Sequence[float],
    size: int,
    classes: Sequence[str] = CLASS_NAMES,
) -> Path:
    """Write the four files into `folder` (created); check the shapes first. Returns `folder`."""
    n = len(predictions.ids)
    expected = {
        PROBABILITIES: (predictions.probabilities, (n, size, size, len(classes))),
        LABELS: (predictions.labels, (n, size, size)),
        IMAGES: (predictions.images, (n, size, size, 3)),
    }
    for name, (array, shape) in expected.items():
        if tuple(array.shape) != shape:
            raise SourceError(
                f"evaluate's {name} would have shape {tuple(array.shape)}, not {shape} "
                f"({n} test ids, side {size}, {len(classes)} classes)",
                "check params.yaml model.input_size against the model and the prepared data",
            )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _save(folder / PROBABILITIES, np.asarray(predictions.probabilities, np.float16))
    _save(folder / LABELS, np.asarray(predictions.labels, np.uint8))
    _save(folder / IMAGES, image_pixels(predictions.images, mean, std))
    index = index_document(predictions.ids, classes, size, predictions.temperature)
    text = json.dumps(index, indent=2, sort_keys=True, ensure_ascii=True) + "\n"
    (folder / INDEX).write_text(text, encoding="utf-8")
    return folder
