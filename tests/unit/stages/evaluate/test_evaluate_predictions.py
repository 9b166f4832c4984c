"""reports/predictions/ without a kernel: collecting, the writer's format, dtypes and bytes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pedigree.errors import SourceError
from stages.common.metrics import CLASS_NAMES, log_softmax
from stages.evaluate.compute import Accumulator, evaluate_model
from stages.evaluate.predictions import (
    FILES,
    IMAGES,
    INDEX,
    LABELS,
    PROBABILITIES,
    SCHEMA,
    PredictionCollector,
    Predictions,
    calibrated_probabilities,
    image_pixels,
    write_predictions,
)
from tests.support.predictions import read_predictions

SIDE = 6
MEAN = [0.45, 0.5, 0.55]
STD = [0.2, 0.25, 0.3]
TEMPERATURE = 1.7


def data(seed: int = 0, images: int = 5, side: int = SIDE):
    """Logits, labels, stored uint8 pixels and the normalised inputs the model saw."""
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(images, side, side, 3)) * 3).astype(np.float32)
    labels = rng.integers(0, 3, size=(images, side, side))
    pixels = rng.integers(0, 256, size=(images, side, side, 3), dtype=np.uint8)
    mean, std = np.float32(MEAN), np.float32(STD)
    # exactly stages.common.data.model_input's arithmetic (float32)
    normalised = (pixels.astype(np.float32) / np.float32(255.0) - mean) / std
    return logits, labels, pixels, normalised


def collected(seed: int = 0, images: int = 5, sizes=(2, 2, 1)) -> Predictions:
    logits, labels, _, normalised = data(seed, images)
    acc = Accumulator(TEMPERATURE, 10, 1, predictions=True)
    start = 0
    for size in sizes:
        part = slice(start, start + size)
        ids = [f"img-{i}" for i in range(start, start + size)]
        acc.add(logits[part], labels[part], normalised[part], ids)
        start += size
    result = acc.result().predictions
    assert result is not None
    return result


def test_the_accumulator_keeps_every_image_in_order() -> None:
    logits, labels, _, normalised = data()
    kept = collected()
    assert kept.ids == tuple(f"img-{i}" for i in range(5))
    assert kept.temperature == TEMPERATURE
    assert kept.probabilities.dtype == np.float16 and kept.probabilities.shape == logits.shape
    expected = np.exp(log_softmax(logits.reshape(-1, 3), TEMPERATURE)).reshape(logits.shape)
    assert np.abs(kept.probabilities.astype(np.float64) - expected).max() < 1e-3
    assert (kept.labels == labels).all() and kept.labels.dtype == np.uint8
    assert (kept.images == normalised).all()


def test_without_predictions_nothing_is_kept() -> None:
    logits, labels, _, normalised = data()
    acc = Accumulator(1.0, 10, 1)
    acc.add(logits, labels, normalised, [str(i) for i in range(5)])
    assert acc.result().predictions is None


def test_evaluate_model_hands_the_probabilities_over_from_its_one_pass() -> None:
    logits, labels, _, normalised = data(images=4)
    calls = []

    def model(images: np.ndarray, training: bool) -> np.ndarray:
        assert training is False
        calls.append(len(images))
        start = sum(calls[:-1])
        return logits[start : start + len(images)]

    batches = [(normalised[:3], labels[:3]), (normalised[3:], labels[3:])]
    ids = ["a", "b", "c", "d"]
    result = evaluate_model(model, batches, ids, TEMPERATURE, 10, 1, predictions=True)
    assert calls == [3, 1]  # one inference pass
    assert result.predictions is not None and result.predictions.ids == tuple(ids)
    probs = calibrated_probabilities(logits, TEMPERATURE)
    assert (result.predictions.probabilities == probs).all()


def test_calibrated_probabilities_apply_the_temperature() -> None:
    logits = np.array([[[[2.0, 0.0, -2.0]]]], np.float32)
    at_one = calibrated_probabilities(logits, 1.0)
    at_two = calibrated_probabilities(logits, 2.0)
    assert at_one.dtype == np.float16 and at_one.shape == logits.shape
    assert float(at_one.sum()) == pytest.approx(1.0, abs=2e-3)
    assert at_two[0, 0, 0, 0] < at_one[0, 0, 0, 0]  # a higher T is less confident
    z = np.exp(logits[0, 0, 0] / 2.0)
    assert np.allclose(at_two[0, 0, 0], z / z.sum(), atol=1e-3)


def test_image_pixels_undo_the_normalisation_exactly() -> None:
    _, _, pixels, normalised = data(3, images=8)
    back = image_pixels(normalised, MEAN, STD)
    assert back.dtype == np.uint8 and (back == pixels).all()
    # out-of-range values are clipped, not wrapped
    extreme = image_pixels(np.array([[-100.0, 0.0, 100.0]]), MEAN, STD)
    assert extreme.tolist() == [[0, 128, 255]]  # 0.5 * 255 = 127.5, rounded half to even


def test_the_written_folder_has_the_contract_format(tmp_path: Path) -> None:
    kept = collected()
    folder = write_predictions(tmp_path / "predictions", kept, MEAN, STD, SIDE)
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    text = (folder / INDEX).read_text(encoding="utf-8")
    index = json.loads(text)
    assert text == json.dumps(index, indent=2, sort_keys=True) + "\n"
    assert index == {
        "schema": SCHEMA,
        "split": "test",
        "ids": [f"img-{i}" for i in range(5)],
        "classes": list(CLASS_NAMES),
        "size": SIDE,
        "calibrated": True,
        "temperature": TEMPERATURE,
    }
    probabilities = np.load(folder / PROBABILITIES, allow_pickle=False)
    labels = np.load(folder / LABELS, allow_pickle=False)
    images = np.load(folder / IMAGES, allow_pickle=False)
    assert probabilities.dtype == np.float16 and probabilities.shape == (5, SIDE, SIDE, 3)
    assert labels.dtype == np.uint8 and labels.shape == (5, SIDE, SIDE)
    assert images.dtype == np.uint8 and images.shape == (5, SIDE, SIDE, 3)
    for array in (probabilities, labels, images):
        assert array.flags.c_contiguous
    _, expected_labels, pixels, _ = data()
    assert (probabilities == kept.probabilities).all()
    assert (labels == expected_labels).all() and (images == pixels).all()
    assert np.allclose(probabilities.astype(np.float32).sum(-1), 1.0, atol=5e-3)
    again = read_predictions(folder)
    assert again.index == index and (again.images == images).all()


def test_the_bytes_are_the_same_on_every_write(tmp_path: Path) -> None:
    first = write_predictions(tmp_path / "a", collected(sizes=(5,)), MEAN, STD, SIDE)
    second = write_predictions(tmp_path / "b", collected(sizes=(1, 3, 1)), MEAN, STD, SIDE)
    for name in FILES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    # plain .npy files: no zip container (np.savez would stamp times into it)
    assert (first / PROBABILITIES).read_bytes()[:6] == b"\x93NUMPY"


def test_the_temperature_is_rounded_as_metrics_json_rounds_it(tmp_path: Path) -> None:
    kept = collected()
    odd = Predictions(kept.ids, 1.23456789, kept.probabilities, kept.labels, kept.images)
    folder = write_predictions(tmp_path / "p", odd, MEAN, STD, SIDE)
    assert json.loads((folder / INDEX).read_text())["temperature"] == 1.234568


def test_a_side_other_than_the_models_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"probabilities\.npy would have shape \(5, 6, 6, 3\)"):
        write_predictions(tmp_path / "p", collected(), MEAN, STD, SIDE + 1)
    assert not (tmp_path / "p").exists()


def test_an_empty_collector_gives_empty_arrays() -> None:
    empty = PredictionCollector.start(1.0).result()
    assert empty.ids == () and empty.probabilities.shape == (0, 0, 0, 3)
    assert empty.labels.dtype == np.uint8 and empty.images.shape == (0, 0, 0, 3)


@pytest.mark.parametrize("broken", ["missing", "dtype", "shape", "schema"])
def test_read_predictions_refuses_a_broken_folder(tmp_path: Path, broken: str) -> None:
    folder = write_predictions(tmp_path / "p", collected(), MEAN, STD, SIDE)
    if broken == "missing":
        (folder / LABELS).unlink()
        match = r"lacks labels\.npy"
    elif broken == "dtype":
        np.save(folder / LABELS, np.zeros((5, SIDE, SIDE), np.int64))
        match = r"labels\.npy: int64"
    elif broken == "shape":
        np.save(folder / IMAGES, np.zeros((4, SIDE, SIDE, 3), np.uint8))
        match = r"images\.npy: uint8 \(4, 6, 6, 3\), expected uint8 \(5, 6, 6, 3\)"
    else:
        (folder / INDEX).write_text('{"schema": "other"}')
        match = r"is not a pedigree\.predictions/v1 index"
    with pytest.raises(SourceError, match=match):
        read_predictions(folder)
