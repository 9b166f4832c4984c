"""ECE and reliability curves: ~0 when calibrated, larger when over-confident, reduced by T."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from stages.calibrate.reliability import CSV_FIELDS, curves, probabilities, write_reliability_csv
from stages.calibrate.temperature import fit_temperature
from stages.common.metrics import ece, reliability
from tests.unit.stages.calibrate.conftest import synthetic_labels

BINS = 15


@pytest.fixture(scope="module")
def logits() -> np.ndarray:
    return np.random.default_rng(21).normal(scale=3.0, size=(100_000, 3))


def test_calibrated_probabilities_have_near_zero_ece(logits: np.ndarray) -> None:
    labels = synthetic_labels(logits, 1.0, seed=1)  # labels drawn from the model's own softmax
    rows = reliability(probabilities(logits, 1.0), labels, BINS)
    assert ece(rows) < 0.01
    assert sum(r["count"] for r in rows) == labels.size


def test_over_confident_ece_is_larger_and_temperature_reduces_it(logits: np.ndarray) -> None:
    labels = synthetic_labels(logits, 3.0, seed=2)  # the logits are 3x too sharp
    fit = fit_temperature(logits, labels, (0.05, 20.0))
    result = curves(logits, labels, fit.temperature, BINS)
    assert result.ece_before > 0.05
    assert result.ece_after < 0.01
    assert result.ece_after < result.ece_before / 5
    # Over-confidence: in the populated high-confidence bins, accuracy is below confidence.
    top = [r for r in result.before if r["count"] and r["lower"] >= 0.8]
    assert top and all(r["accuracy"] < r["confidence"] for r in top)


def test_reliability_csv_has_one_row_per_bin_and_empty_cells(tmp_path: Path) -> None:
    z = np.array([[4.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 6.0]])
    labels = np.array([0, 1, 0])
    result = curves(z, labels, 2.0, BINS)
    path = tmp_path / "reliability.csv"
    write_reliability_csv(path, result)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0].keys()) == CSV_FIELDS
    assert [int(r["bin"]) for r in rows] == list(range(BINS))
    assert float(rows[0]["lower"]) == 0.0 and float(rows[-1]["upper"]) == 1.0
    empty = [r for r in rows if r["count_before"] == "0"]
    assert empty and all(r["confidence_before"] == "" == r["accuracy_before"] for r in empty)
    assert (
        sum(int(r["count_before"]) for r in rows) == 3 == sum(int(r["count_after"]) for r in rows)
    )
