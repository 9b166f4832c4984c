"""Streamed metrics on small numpy arrays: they must equal stages.common.metrics all at once."""

from __future__ import annotations

import numpy as np
import pytest

from pedigree.errors import SourceError
from stages.common.metrics import confusion, ece, log_softmax, nll, reliability, scores
from stages.evaluate.compute import (
    Accumulator,
    evaluate_model,
    metrics_document,
    per_image_iou,
    result_rows,
)
from tests.unit.stages.calibrate.conftest import synthetic_labels

BINS = 10


def batch_data(seed: int, images: int = 7, side: int = 5, scale: float = 3.0):
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(images, side, side, 3)) * scale).astype(np.float32)
    labels = rng.integers(0, 3, size=(images, side, side))
    pixels = rng.normal(size=(images, side, side, 3)).astype(np.float32)
    return logits, labels, pixels


def stream(logits, labels, pixels, temperature: float, examples: int = 2, sizes=(3, 3, 1)):
    acc = Accumulator(temperature, BINS, examples)
    start = 0
    for size in sizes:
        part = slice(start, start + size)
        ids = [f"img{i}" for i in range(start, start + size)]
        acc.add(logits[part], labels[part], pixels[part], ids)
        start += size
    return acc


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.5])
def test_streamed_equals_all_at_once(temperature: float) -> None:
    logits, labels, pixels = batch_data(0)
    result = stream(logits, labels, pixels, temperature).result()
    flat_logits, flat_labels = logits.reshape(-1, 3), labels.reshape(-1)
    matrix = confusion(labels, logits.argmax(-1))
    assert (result.confusion == matrix).all() and result.pixels == labels.size
    assert result.scores == scores(matrix)
    for name, t in (("original", 1.0), ("calibrated", temperature)):
        expected = reliability(np.exp(log_softmax(flat_logits, t)), flat_labels, BINS)
        got = result.reliability[name]
        assert [r["count"] for r in got] == [r["count"] for r in expected]
        for mine, theirs in zip(got, expected, strict=True):
            for key in ("confidence", "accuracy"):
                if theirs[key] is None:
                    assert mine[key] is None
                else:
                    assert mine[key] == pytest.approx(theirs[key], abs=1.5e-6)
        assert result.ece[name] == pytest.approx(ece(expected), abs=2e-6)
        assert result.nll[name] == pytest.approx(nll(flat_logits, flat_labels, t), rel=1e-12)


def test_temperature_changes_calibration_not_segmentation() -> None:
    # Labels drawn from softmax(logits / 2): the model at T = 1 is over-confident, T = 2 is right.
    rng = np.random.default_rng(3)
    logits = (rng.normal(size=(8, 16, 16, 3)) * 4).astype(np.float32)
    labels = synthetic_labels(logits.reshape(-1, 3), 2.0, seed=5).reshape(8, 16, 16)
    pixels = np.zeros((8, 16, 16, 3), np.float32)
    at_one = stream(logits, labels, pixels, 1.0, sizes=(5, 3)).result()
    at_two = stream(logits, labels, pixels, 2.0, sizes=(5, 3)).result()
    assert (at_one.confusion == at_two.confusion).all() and at_one.scores == at_two.scores
    assert at_two.nll["original"] == at_one.nll["original"] == at_one.nll["calibrated"]
    assert at_two.nll["calibrated"] < at_two.nll["original"]
    assert at_two.ece["calibrated"] < at_two.ece["original"]


def test_per_image_iou_by_hand() -> None:
    labels = np.array([[[0, 0], [1, 1]], [[0, 0], [1, 2]]])
    predicted = np.array([[[0, 0], [1, 1]], [[0, 1], [1, 1]]])
    # Image 2: pet 1/2, background 1/3, border 0/1 -> mean 5/18.
    assert per_image_iou(labels, predicted).tolist() == [1.0, round(5 / 18, 6)]


def test_best_and_worst_examples_are_chosen_across_batches() -> None:
    logits, labels, pixels = batch_data(1, images=9)
    acc = stream(logits, labels, pixels, 1.0, examples=2, sizes=(4, 4, 1))
    assert len(acc.kept) <= 4  # bounded: only the current best and worst are held
    result = acc.result()
    ious = per_image_iou(labels, logits.argmax(-1))
    order = sorted(range(9), key=lambda i: (ious[i], i))
    assert [e.position for e in result.worst] == order[:2]
    assert [e.position for e in result.best] == sorted(range(9), key=lambda i: (-ious[i], i))[:2]
    best = result.best[0]
    assert best.sample_id == f"img{best.position}" and best.iou == ious[best.position]
    assert (best.image == pixels[best.position]).all()
    assert (best.predicted == logits[best.position].argmax(-1)).all()


def test_ties_go_to_the_earlier_image() -> None:
    logits = np.zeros((4, 2, 2, 3), np.float32)
    logits[..., 0] = 1.0  # every pixel predicted pet
    labels = np.zeros((4, 2, 2), np.int64)  # every image perfect: IoU 1
    acc = Accumulator(1.0, BINS, 2)
    acc.add(logits[:2], labels[:2], np.zeros((2, 2, 2, 3)), ["a", "b"])
    acc.add(logits[2:], labels[2:], np.zeros((2, 2, 2, 3)), ["c", "d"])
    result = acc.result()
    assert [e.sample_id for e in result.best] == ["a", "b"]
    assert [e.sample_id for e in result.worst] == ["a", "b"]


class _Model:
    def __init__(self, logits: np.ndarray) -> None:
        self.logits = logits
        self.calls: list[bool] = []
        self.seen = 0

    def __call__(self, images: np.ndarray, training: bool) -> np.ndarray:
        self.calls.append(training)
        out = self.logits[self.seen : self.seen + len(images)]
        self.seen += len(images)
        return out


def test_evaluate_model_runs_in_inference_mode() -> None:
    logits, labels, pixels = batch_data(2, images=5)
    batches = [(pixels[:3], labels[:3]), (pixels[3:], labels[3:])]
    model = _Model(logits)
    result = evaluate_model(model, batches, [f"s{i}" for i in range(5)], 1.5, BINS, 1)
    assert model.calls == [False, False]
    assert result.images == 5 and result.temperature == 1.5
    expected = stream(logits, labels, pixels, 1.5, examples=1, sizes=(3, 2)).result()
    assert result.scores == expected.scores and result.nll == expected.nll


def test_evaluate_model_refuses_ids_that_disagree_with_the_shards() -> None:
    logits, labels, pixels = batch_data(2, images=5)
    batches = [(pixels, labels)]
    with pytest.raises(SourceError, match=r"hold more images than their 4 ids"):
        evaluate_model(_Model(logits), batches, ["a"] * 4, 1.0, BINS, 1)
    with pytest.raises(SourceError, match=r"gave 5 images but hold 6 ids"):
        evaluate_model(_Model(logits), batches, ["a"] * 6, 1.0, BINS, 1)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ("labels", r"test labels outside 0\.\.2"),
        ("nan", r"non-finite logits"),
        ("shape", r"logits of shape \(2, 5, 5, 4\)"),
    ],
)
def test_bad_batches_are_refused(change: str, match: str) -> None:
    logits, labels, pixels = batch_data(4, images=2)
    if change == "labels":
        labels[0, 0, 0] = 3
    elif change == "nan":
        logits[1, 2, 2, 0] = np.nan
    else:
        logits = np.concatenate([logits, logits[..., :1]], axis=-1)
    with pytest.raises(SourceError, match=match):
        Accumulator(1.0, BINS, 1).add(logits, labels, pixels, ["a", "b"])


def test_metrics_document_and_rows() -> None:
    logits, labels, pixels = batch_data(5)
    result = stream(logits, labels, pixels, 1.2345678).result()
    doc = metrics_document(result)
    assert doc["temperature"] == 1.234568 and doc["split"] == "test"
    assert doc["ece"]["original"] == round(result.ece["original"], 6)
    rows = result_rows(doc)
    assert [r[0] for r in rows][:3] == ["mean_iou", "mean_dice", "pixel_accuracy"]
    assert rows[-2] == ("ece", doc["ece"]["original"], doc["ece"]["calibrated"])
    assert all(r[1] == r[2] for r in rows[:-2])
