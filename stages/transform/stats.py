"""Per-channel normalisation statistics, accumulated one image at a time.

Only the train split is ever fed in: using validation/test pixels to normalise would leak them
into training. Memory is constant (three sums per channel). The sums are kept as exact Python
integers over the uint8 pixels rather than float64 running sums: they are then independent of
summation order, numpy version and CPU, so stats.json is byte-stable everywhere. Mean and
variance are formed exactly as fractions and converted to float64 once, at the end, on the
[0, 1] pixel scale.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import numpy as np

DECIMALS = 8  # rounding keeps the JSON short and its bytes stable
SCALE = 255  # uint8 -> [0, 1]
SAMPLES_DIGEST_KEY = "samples_sha256"


def samples_digest(sample_ids: Iterable[str]) -> str:
    """sha256 of the sorted sample ids, each followed by a newline (UTF-8).

    Written to stats.json so that anyone (`pedigree audit`) can prove which samples the
    statistics were computed on by recomputing it from the train split's ids, without decoding
    a single image. The definition is a contract: change it only together with the audit.
    """
    text = "".join(f"{sample_id}\n" for sample_id in sorted(sample_ids))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ChannelStats:
    """Streaming per-channel mean and standard deviation of uint8 (H, W, C) images."""

    def __init__(self, channels: int = 3) -> None:
        self.channels = channels
        self.sums = [0] * channels
        self.squares = [0] * channels
        self.pixels = 0  # per channel
        self.images = 0

    def add(self, image: np.ndarray) -> None:
        """Accumulate one uint8 image of shape (H, W, channels)."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != self.channels:
            raise ValueError(
                f"expected uint8 (H, W, {self.channels}), got {image.dtype} {image.shape}"
            )
        flat = image.reshape(-1, self.channels).astype(np.int64)
        # int64 cannot overflow here: 4096*4096 pixels * 255**2 < 2**63.
        sums = flat.sum(axis=0)
        squares = np.einsum("ij,ij->j", flat, flat)
        for c in range(self.channels):
            self.sums[c] += int(sums[c])
            self.squares[c] += int(squares[c])
        self.pixels += flat.shape[0]
        self.images += 1

    def mean(self) -> list[float]:
        """Per-channel mean on the [0, 1] scale."""
        self._require_data()
        return [float(Fraction(s, self.pixels * SCALE)) for s in self.sums]

    def std(self) -> list[float]:
        """Per-channel population standard deviation on the [0, 1] scale."""
        self._require_data()
        n = self.pixels
        # var = (n*Q - S^2) / (n^2 * 255^2), exact in integers: no cancellation error.
        return [
            math.sqrt(Fraction(n * q - s * s, n * n * SCALE * SCALE))
            for s, q in zip(self.sums, self.squares, strict=True)
        ]

    def to_json(self, split: str, image_size: tuple[int, int]) -> dict[str, Any]:
        """The stats.json document, floats rounded to DECIMALS places."""
        return {
            "split": split,
            "count_images": self.images,
            "count_pixels": self.pixels,
            "mean": [round(v, DECIMALS) for v in self.mean()],
            "std": [round(v, DECIMALS) for v in self.std()],
            "image_size": list(image_size),
            "scale": "pixel / 255",
        }

    def _require_data(self) -> None:
        if self.pixels == 0:
            raise ValueError("no images were added; statistics are undefined")
