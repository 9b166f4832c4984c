"""Resize: images bilinear to (height, width); trimaps nearest, never inventing label values."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from stages.common.pets import BACKGROUND, BORDER, PET, TRIMAP_VALUES
from stages.transform.resize import resize_image, resize_trimap


def sharp_trimap(height: int, width: int) -> Image.Image:
    """Background with a pet ellipse, a 1-pixel border ring, and a pet square touching
    background directly (no border between them: where interpolation would invent 'border')."""
    image = Image.new("L", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = width // 7, height // 5, width // 2, height - height // 5
    draw.ellipse((left, top, right, bottom), fill=BORDER)
    draw.ellipse((left + 1, top + 1, right - 1, bottom - 1), fill=PET)
    draw.rectangle((width * 3 // 5, height // 3, width - 3, height * 2 // 3), fill=PET)
    return image


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ((37, 53), (128, 128)),  # upscale, odd source
        ((301, 257), (128, 128)),  # downscale, odd source
        ((128, 128), (9, 13)),  # downscale to odd target
        ((41, 199), (127, 33)),  # up in one axis, down in the other
    ],
)
def test_trimap_keeps_only_label_values(source: tuple[int, int], target: tuple[int, int]) -> None:
    out = resize_trimap(sharp_trimap(*source), target)
    assert out.shape == target
    assert out.dtype == np.uint8
    assert set(np.unique(out).tolist()) <= set(TRIMAP_VALUES)


def test_trimap_nearest_never_blends_neighbouring_labels() -> None:
    # Pet (1) next to border (3) with nothing between: any interpolation would produce 2 on the
    # edge, a valid-looking but wrong label. Nearest must keep only 1 and 3.
    source = np.full((31, 45), PET, dtype=np.uint8)
    source[:, 22:] = BORDER
    for target in [(128, 128), (7, 11), (64, 200)]:
        out = resize_trimap(Image.fromarray(source, "L"), target)
        assert set(np.unique(out).tolist()) == {PET, BORDER}
    # The test is meaningful: bilinear on the same trimap does invent the value 2.
    blended = Image.fromarray(source, "L").resize((128, 128), Image.Resampling.BILINEAR)
    assert BACKGROUND in np.unique(np.asarray(blended))


def test_upscaled_trimap_keeps_every_label() -> None:
    out = resize_trimap(sharp_trimap(37, 53), (128, 128))
    assert set(np.unique(out).tolist()) == set(TRIMAP_VALUES)


def test_image_shape_is_height_width_channels() -> None:
    rng = np.random.default_rng(0)
    source = Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8), "RGB")
    out = resize_image(source, (64, 96))
    assert out.shape == (64, 96, 3)
    assert out.dtype == np.uint8
    assert out.flags.c_contiguous


def test_image_is_bilinear_and_deterministic() -> None:
    rng = np.random.default_rng(1)
    source = Image.fromarray(rng.integers(0, 256, (211, 97, 3), dtype=np.uint8), "RGB")
    out = resize_image(source, (50, 60))
    reference = np.asarray(source.resize((60, 50), Image.Resampling.BILINEAR, reducing_gap=None))
    np.testing.assert_array_equal(out, reference)
    np.testing.assert_array_equal(out, resize_image(source, (50, 60)))


def test_uniform_image_stays_uniform() -> None:
    source = Image.new("RGB", (33, 77), (10, 200, 31))
    out = resize_image(source, (128, 128))
    assert (out == np.array([10, 200, 31], dtype=np.uint8)).all()


def test_wrong_modes_are_refused() -> None:
    with pytest.raises(ValueError, match="expected an RGB image, got mode L"):
        resize_image(Image.new("L", (10, 10)), (8, 8))
    with pytest.raises(ValueError, match=r"expected an 8-bit \(mode L\) trimap, got mode RGB"):
        resize_trimap(Image.new("RGB", (10, 10)), (8, 8))
