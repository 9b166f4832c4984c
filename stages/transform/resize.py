"""Resize an image and its trimap to the model's fixed input size.

Both are stretched to exactly (height, width), ignoring the aspect ratio. Why not keep it:
the model needs one fixed input shape; letterboxing would add padding pixels that belong to no
trimap class, and cropping would cut off parts of the pet and of its mask. Pets survive a mild
stretch, and the original size is recorded in provenance.jsonl so predictions can be mapped back.

Images use bilinear filtering; trimaps use NEAREST, always: a trimap holds class labels (1 pet,
2 background, 3 border), and interpolating labels invents values that are no class (e.g. 1.5, or
2 between 1 and 3). Pillow's resize with `reducing_gap=None` (its default) is a plain
convolution with no approximate shortcuts, so the same input gives the same bytes every run.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

IMAGE_METHOD = "bilinear"
TRIMAP_METHOD = "nearest"


def _pillow_size(size: tuple[int, int]) -> tuple[int, int]:
    # The stage speaks (height, width) like numpy; Pillow wants (width, height).
    height, width = size
    return (width, height)


def resize_image(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """Bilinear-resize an RGB image to `size` (height, width); return uint8 (H, W, 3), C-order."""
    if image.mode != "RGB":
        raise ValueError(f"expected an RGB image, got mode {image.mode}")
    out = image.resize(_pillow_size(size), Image.Resampling.BILINEAR, reducing_gap=None)
    return np.ascontiguousarray(np.asarray(out, dtype=np.uint8))


def resize_trimap(trimap: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """Nearest-resize an 8-bit trimap to `size` (height, width); return uint8 (H, W), C-order.

    Nearest neighbour only copies existing pixels, so the output holds no value the input lacks.
    """
    if trimap.mode != "L":
        raise ValueError(f"expected an 8-bit (mode L) trimap, got mode {trimap.mode}")
    out = trimap.resize(_pillow_size(size), Image.Resampling.NEAREST)
    return np.ascontiguousarray(np.asarray(out, dtype=np.uint8))
