"""The worst images as one PNG: a row per image of image | given labels | suggested labels.

The suggested labels are the argmax of the averaged out-of-fold probabilities: what the models
that never saw the image think it shows. Drawn with numpy and Pillow only (no matplotlib, no
fonts), so the PNG bytes depend on the pixels alone: same inputs, same file. Class colours are
fixed by class index (pet, background, border first), so figures of two audits compare at a
glance.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from stages.labels.samples import Samples

# RGB per class index: pet orange, background dark grey, border light grey, then spares for a
# pipeline with more classes (runs.MAX_CLASSES is kept to their number).
PALETTE = np.array(
    [
        (230, 159, 0),
        (60, 60, 60),
        (220, 220, 220),
        (0, 114, 178),
        (0, 158, 115),
        (204, 121, 167),
        (213, 94, 0),
        (240, 228, 66),
    ],
    dtype=np.uint8,
)
PANELS = 3  # image, given labels, suggested labels
GAP = 4  # white pixels around and between panels
MIN_PANEL = 128  # small images are enlarged (nearest neighbour) to at least this many pixels


def panel_size(size: int) -> int:
    """Side of one panel: the image enlarged by a whole factor, so every pixel stays square."""
    return size * max(1, -(-MIN_PANEL // size))


def figure_shape(rows: int, size: int) -> tuple[int, int]:
    """(width, height) in pixels of a figure of `rows` images of side `size`."""
    side = panel_size(size)
    return PANELS * side + (PANELS + 1) * GAP, rows * side + (rows + 1) * GAP


def _enlarge(panel: np.ndarray, factor: int) -> np.ndarray:
    return panel.repeat(factor, axis=0).repeat(factor, axis=1)


def draw(samples: Samples, rows: Sequence[int]) -> np.ndarray:
    """uint8 (H, W, 3) figure of the samples at indices `rows`, top to bottom."""
    size = samples.size
    side = panel_size(size)
    factor = side // size
    width, height = figure_shape(len(rows), size)
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    for r, index in enumerate(rows):
        given = PALETTE[samples.labels[index]]
        suggested = PALETTE[samples.probabilities[index].argmax(axis=0)]
        top = GAP + r * (side + GAP)
        for p, panel in enumerate((samples.images[index], given, suggested)):
            left = GAP + p * (side + GAP)
            canvas[top : top + side, left : left + side] = _enlarge(panel, factor)
    return canvas


def png_base64(samples: Samples, rows: Sequence[int]) -> str | None:
    """The figure as base64 PNG text, or None when there is nothing to show."""
    if not rows:
        return None
    buffer = io.BytesIO()
    # No metadata chunks and a fixed compression level: the bytes depend on the pixels only.
    Image.fromarray(draw(samples, rows)).save(buffer, format="PNG", compress_level=9)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
