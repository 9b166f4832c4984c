"""The report's figures: confusion matrix, reliability diagram, predictions, training curves.

Each function draws one matplotlib figure and returns it; the notebook shows it with the inline
backend, which the stage configures to write PNGs without a date or software stamp, so identical
inputs give identical bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from stages.common.metrics import CLASS_NAMES
from stages.evaluate.compute import Example

# One colour per class (pet, background, border) in ground truth and overlays.
CLASS_COLOURS = np.array([[1.0, 0.5, 0.0], [0.15, 0.3, 0.8], [1.0, 1.0, 0.2]])
OVERLAY_ALPHA = 0.5


def confusion_figure(matrix: np.ndarray) -> Any:
    """Heatmap of row-normalised percentages, each cell labelled with its count and %."""
    import matplotlib.pyplot as plt

    counts = np.asarray(matrix, np.int64)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(totals > 0, counts / np.maximum(totals, 1) * 100.0, 0.0)
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=100.0)
    fig.colorbar(image, ax=ax, label="% of the true class")
    names = list(CLASS_NAMES)
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(names)):
        for j in range(len(names)):
            colour = "white" if share[i, j] > 60 else "black"
            text = f"{counts[i, j]}\n{share[i, j]:.1f}%"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=9)
    ax.set_title("Test pixels: count and % of the true class", fontsize=10)
    fig.tight_layout()
    return fig


def _curve(rows: Sequence[dict[str, Any]]) -> tuple[list[float], list[float]]:
    kept = [r for r in rows if r["count"]]
    return [r["confidence"] for r in kept], [r["accuracy"] for r in kept]


def reliability_figure(
    original: Sequence[dict[str, Any]], calibrated: Sequence[dict[str, Any]], temperature: float
) -> Any:
    """Accuracy against confidence per bin, before and after scaling, with the diagonal."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    x, y = _curve(original)
    ax.plot(x, y, marker="o", label="original (T = 1)")
    x, y = _curve(calibrated)
    ax.plot(x, y, marker="s", label=f"calibrated (T = {temperature:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (max softmax probability)")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability diagram (test split)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def unnormalise(image: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """A normalised model input back to displayable RGB in [0, 1]."""
    rgb = np.asarray(image, np.float64) * np.asarray(std) + np.asarray(mean)
    return np.clip(rgb, 0.0, 1.0)


def overlay(rgb: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Pet and border pixels tinted with their class colour; background left as it is."""
    tinted = (1 - OVERLAY_ALPHA) * rgb + OVERLAY_ALPHA * CLASS_COLOURS[labels]
    background = (labels == CLASS_NAMES.index("background"))[..., None]
    return np.where(background, rgb, tinted)


def predictions_figure(
    best: Sequence[Example], worst: Sequence[Example], mean: Sequence[float], std: Sequence[float]
) -> Any:
    """One row per example: image | ground truth | prediction over the image."""
    import matplotlib.pyplot as plt

    rows = [("best", e) for e in best] + [("worst", e) for e in worst]
    if not rows:
        # evaluate.examples = 0: say so where the grid would be rather than fail.
        fig, ax = plt.subplots(figsize=(6.0, 0.8))
        ax.text(0.5, 0.5, "no examples requested (evaluate.examples = 0)", ha="center")
        ax.set_axis_off()
        return fig
    fig, axes = plt.subplots(len(rows), 3, figsize=(7.5, 2.5 * len(rows)), squeeze=False)
    for (kind, example), row in zip(rows, axes, strict=True):
        rgb = unnormalise(example.image, mean, std)
        row[0].imshow(rgb)
        row[0].set_title(f"{kind}: {example.sample_id}", fontsize=9)
        row[1].imshow(CLASS_COLOURS[example.labels])
        row[1].set_title("ground truth", fontsize=9)
        row[2].imshow(overlay(rgb, example.predicted))
        row[2].set_title(f"prediction, IoU {example.iou:.3f}", fontsize=9)
        for ax in row:
            ax.set_axis_off()
    from matplotlib.patches import Patch

    handles = [
        Patch(color=tuple(colour), label=name)
        for name, colour in zip(CLASS_NAMES, CLASS_COLOURS, strict=True)
    ]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9)
    fig.suptitle("Best and worst test images by IoU", fontsize=10)
    fig.tight_layout(rect=(0.0, 0.04, 1.0, 0.98))  # room for the legend below the grid
    return fig


def training_figure(history: Sequence[dict[str, Any]]) -> Any:
    """Loss and validation loss, and validation mean IoU, per epoch."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]

    def series(key: str) -> list[float]:
        return [np.nan if row[key] is None else row[key] for row in history]

    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.6))
    left.plot(epochs, series("loss"), marker=".", label="loss (train)")
    left.plot(epochs, series("val_loss"), marker=".", label="val_loss")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.legend()
    left.set_title("Loss")
    right.plot(epochs, series("val_mean_iou"), marker=".", color="tab:green")
    right.set_xlabel("epoch")
    right.set_ylabel("mean IoU")
    right.set_title("Validation mean IoU")
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    fig.tight_layout()
    return fig
