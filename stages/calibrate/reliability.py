"""Reliability curves and ECE before and after temperature scaling, and reliability.csv.

Both curves use the same pixels and the same equal-width confidence bins, so the before/after
comparison measures the temperature alone. The binning and ECE are stages.common.metrics'
(`reliability`, `ece`), shared with evaluate.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stages.common.metrics import ece, log_softmax, reliability

CSV_FIELDS = (
    "bin",
    "lower",
    "upper",
    "confidence_before",
    "accuracy_before",
    "count_before",
    "confidence_after",
    "accuracy_after",
    "count_after",
)


@dataclass(frozen=True)
class Curves:
    """Reliability rows (one per bin) and ECE, at T = 1 and at the fitted temperature."""

    before: list[dict[str, Any]]
    after: list[dict[str, Any]]
    ece_before: float
    ece_after: float


def probabilities(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / temperature) in float64 (bin edges compare exactly, sums stay stable)."""
    return np.exp(log_softmax(logits, temperature))


def curves(logits: np.ndarray, labels: np.ndarray, temperature: float, bins: int) -> Curves:
    """Reliability and ECE of the same pixels at T = 1 and at `temperature`."""
    before = reliability(probabilities(logits, 1.0), labels, bins)
    after = reliability(probabilities(logits, temperature), labels, bins)
    return Curves(before, after, ece(before), ece(after))


def _cell(value: Any) -> Any:
    # Empty bins have no confidence or accuracy: an empty cell, which plotting tools skip.
    if value is None:
        return ""
    return f"{value:.6f}" if isinstance(value, float) else value


def write_reliability_csv(path: Path, result: Curves) -> None:
    """One row per bin with before/after confidence, accuracy and count (a DVC plots file)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row_before, row_after in zip(result.before, result.after, strict=True):
            writer.writerow(
                {
                    "bin": row_before["bin"],
                    "lower": _cell(row_before["lower"]),
                    "upper": _cell(row_before["upper"]),
                    "confidence_before": _cell(row_before["confidence"]),
                    "accuracy_before": _cell(row_before["accuracy"]),
                    "count_before": row_before["count"],
                    "confidence_after": _cell(row_after["confidence"]),
                    "accuracy_after": _cell(row_after["accuracy"]),
                    "count_after": row_after["count"],
                }
            )
