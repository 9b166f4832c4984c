"""Losses and metrics for 3-class segmentation, and the calibration measures.

Metrics are computed on argmax labels (never on probabilities) from one confusion matrix, so mean
IoU, Dice/F1 and pixel accuracy always agree with each other. Class order: pet, background,
border (trimap values 1, 2, 3).
"""

from __future__ import annotations

from typing import Any

import numpy as np

CLASS_NAMES = ("pet", "background", "border")


def segmentation_loss(dice_weight: float) -> Any:
    """Per-pixel cross-entropy (from logits) plus `dice_weight` x soft Dice loss."""
    import keras
    from keras import ops

    cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def loss(labels: Any, logits: Any) -> Any:
        ce = cross_entropy(labels, logits)
        if dice_weight == 0:
            return ce
        probs = ops.softmax(logits, axis=-1)
        onehot = ops.one_hot(ops.cast(labels, "int32"), len(CLASS_NAMES))
        inter = ops.sum(probs * onehot, axis=(0, 1, 2))
        total = ops.sum(probs, axis=(0, 1, 2)) + ops.sum(onehot, axis=(0, 1, 2))
        dice = ops.mean((2.0 * inter + 1.0) / (total + 1.0))
        return ce + dice_weight * (1.0 - dice)

    return loss


def confusion(labels: np.ndarray, predicted: np.ndarray, classes: int = 3) -> np.ndarray:
    """classes x classes counts: rows are true labels, columns predictions."""
    flat = labels.astype(np.int64).ravel() * classes + predicted.astype(np.int64).ravel()
    return np.bincount(flat, minlength=classes * classes).reshape(classes, classes)


def scores(matrix: np.ndarray) -> dict[str, Any]:
    """IoU, Dice/F1 per class and their means, and pixel accuracy, from a confusion matrix."""
    tp = np.diag(matrix).astype(np.float64)
    fp = matrix.sum(axis=0) - tp
    fn = matrix.sum(axis=1) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(tp + fp + fn > 0, tp / (tp + fp + fn), np.nan)
        dice = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    total = matrix.sum()
    return {
        "iou": {n: _round(v) for n, v in zip(CLASS_NAMES, iou, strict=True)},
        "dice": {n: _round(v) for n, v in zip(CLASS_NAMES, dice, strict=True)},
        "mean_iou": _round(np.nanmean(iou)),
        "mean_dice": _round(np.nanmean(dice)),
        "pixel_accuracy": _round(tp.sum() / total) if total else None,
    }


def _round(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)


def log_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Numerically stable log-softmax of logits / temperature over the last axis."""
    z = logits.astype(np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean per-pixel negative log-likelihood of the true labels."""
    logp = log_softmax(logits.reshape(-1, logits.shape[-1]), temperature)
    return float(-logp[np.arange(logp.shape[0]), labels.reshape(-1)].mean())


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int) -> list[dict[str, Any]]:
    """Per confidence bin: mean confidence, accuracy and pixel count (for a reliability curve)."""
    flat = probs.reshape(-1, probs.shape[-1])
    confidence = flat.max(axis=-1)
    correct = flat.argmax(axis=-1) == labels.reshape(-1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        member = which == b
        count = int(member.sum())
        rows.append(
            {
                "bin": b,
                "lower": round(float(edges[b]), 6),
                "upper": round(float(edges[b + 1]), 6),
                "confidence": round(float(confidence[member].mean()), 6) if count else None,
                "accuracy": round(float(correct[member].mean()), 6) if count else None,
                "count": count,
            }
        )
    return rows


def ece(rows: list[dict[str, Any]]) -> float:
    """Expected calibration error from reliability rows: sum of |acc - conf| weighted by count."""
    total = sum(r["count"] for r in rows)
    if not total:
        return 0.0
    gap = sum(r["count"] * abs(r["accuracy"] - r["confidence"]) for r in rows if r["count"])
    return float(gap / total)
