"""Run the model over the calibration split and keep its logits and labels, bounded in memory.

The number of pixels is known before any inference (images in index.json x input_size^2), so
when it exceeds `max_pixels` the pixels to keep are drawn up front, without replacement, from a
generator seeded with the determinism seed, and each batch keeps only its share. Memory then
stays at max_pixels x (classes x 4 + 8) bytes however large the split is, and the subsample is
the same on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pedigree.errors import SourceError


@dataclass(frozen=True)
class Collected:
    """The calibration pixels: float32 logits (N, C), int64 labels (N,), and their origin."""

    logits: np.ndarray
    labels: np.ndarray
    images: int
    pixels_total: int

    @property
    def pixels(self) -> int:
        """Pixels kept (all of them, or the subsample)."""
        return int(self.labels.shape[0])

    @property
    def subsampled(self) -> bool:
        """True when only a seeded subsample of the split's pixels was kept."""
        return self.pixels < self.pixels_total


def choose_pixels(total: int, max_pixels: int, seed: int) -> np.ndarray | None:
    """Sorted flat indices of the pixels to keep, or None to keep them all."""
    if total <= max_pixels:
        return None
    # A private generator: the subsample depends on the seed only, not on global RNG state.
    keep = np.random.default_rng(seed).choice(total, size=max_pixels, replace=False)
    return np.sort(keep)


def collect_logits(
    model: Any,
    batches: Any,
    images: int,
    input_size: int,
    max_pixels: int,
    seed: int,
) -> Collected:
    """Logits and labels of every (or a seeded subsample of) pixel of `images` images.

    `batches` yields (normalised images, int labels) as stages.common.data.dataset builds them
    with training=False (no flips, no shuffle), so the pixel order, and so the subsample, is
    fixed by the shards.
    """
    per_image = input_size * input_size
    total = images * per_image
    keep = choose_pixels(total, max_pixels, seed)
    logits_parts: list[np.ndarray] = []
    label_parts: list[np.ndarray] = []
    seen_images = 0
    for batch_images, batch_labels in batches:
        logits = np.asarray(model(batch_images, training=False), dtype=np.float32)
        labels = np.asarray(batch_labels)
        classes = logits.shape[-1]
        flat_logits = logits.reshape(-1, classes)
        flat_labels = labels.reshape(-1).astype(np.int64)
        start = seen_images * per_image
        seen_images += labels.shape[0]
        if keep is not None:
            # The kept indices inside this batch, as offsets from its first pixel.
            lo, hi = np.searchsorted(keep, [start, start + flat_labels.shape[0]])
            rows = keep[lo:hi] - start
            flat_logits, flat_labels = flat_logits[rows], flat_labels[rows]
        logits_parts.append(np.ascontiguousarray(flat_logits))
        label_parts.append(flat_labels)
    if seen_images != images:
        raise SourceError(
            f"the calibration shards hold {seen_images} images but their index.json says {images}",
            "re-run the transform stage",
        )
    return Collected(
        logits=np.concatenate(logits_parts) if logits_parts else np.zeros((0, 0), np.float32),
        labels=np.concatenate(label_parts) if label_parts else np.zeros((0,), np.int64),
        images=images,
        pixels_total=total,
    )
