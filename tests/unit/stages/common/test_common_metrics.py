"""Segmentation metrics on argmax labels and calibration measures."""

from __future__ import annotations

import numpy as np
import pytest

from stages.common.metrics import confusion, ece, nll, reliability, scores


def test_scores_from_confusion() -> None:
    labels = np.array([[0, 0, 1, 1, 2, 2]])
    predicted = np.array([[0, 1, 1, 1, 2, 0]])
    result = scores(confusion(labels, predicted))
    assert result["iou"] == {
        "pet": pytest.approx(1 / 3),
        "background": pytest.approx(2 / 3),
        "border": pytest.approx(1 / 2),
    }
    assert result["mean_iou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3, abs=1e-6)
    assert result["pixel_accuracy"] == pytest.approx(4 / 6, abs=1e-6)
    assert result["dice"]["border"] == pytest.approx(2 / 3, abs=1e-6)


def test_perfect_prediction() -> None:
    labels = np.array([0, 1, 2, 2])
    result = scores(confusion(labels, labels))
    assert result["mean_iou"] == 1.0 and result["pixel_accuracy"] == 1.0


def test_nll_and_temperature() -> None:
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    labels = np.array([0, 1])
    assert nll(logits, labels) < nll(logits, labels, temperature=4.0)


def test_reliability_and_ece() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1, 1, 1], size=20000)
    labels = np.array([rng.choice(3, p=p) for p in probs])  # calibrated by construction
    rows = reliability(probs, labels, 10)
    assert len(rows) == 10 and sum(r["count"] for r in rows) == 20000
    assert ece(rows) < 0.02
    sharp = probs**4 / (probs**4).sum(axis=1, keepdims=True)  # over-confident
    assert ece(reliability(sharp, labels, 10)) > 0.05
