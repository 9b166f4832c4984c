"""Bad requests: every input the model cannot take is a BadRequestError that says why.

Most checks run before TensorFlow: they are tested on stages.serve.inputs directly, and once
through a loaded predictor, which must keep answering afterwards.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from pedigree.stagekit import BadRequestError
from stages.serve.inputs import MAX_BATCH, MAX_SIDE, to_batch
from tests.unit.stages.serve.conftest import png_bytes

SIZE = (32, 32)
PIXELS = np.zeros((8, 8, 3), np.uint8)


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny valid PNG whose header claims width x height (no pixel data would fit)."""
    data = bytearray(png_bytes(PIXELS))
    ihdr = 8 + 8  # signature, then length and type of the first chunk
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def truncated_jpeg() -> bytes:
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encoded(Image.fromarray(noise), "JPEG")
    return data[: len(data) // 2]


BAD_INPUTS = {
    "not-an-image": ([b"this is not an image"], r"input 0 is not an image in an accepted format"),
    "empty-bytes": ([b""], r"input 0 is empty \(0 bytes\)"),
    "unaccepted-format": (
        [encoded(Image.new("RGB", (8, 8)), "TGA")],
        r"input 0 is not an image in an accepted format \(JPEG, PNG,",
    ),
    "truncated": ([png_bytes(PIXELS), truncated_jpeg()], r"input 1 cannot be decoded"),
    "too-wide": (
        [png_bytes(np.zeros((2, MAX_SIDE + 1, 3), np.uint8))],
        r"input 0 is 4097 x 2 pixels \(width x height\): the limit is 4096 x 4096",
    ),
    "header-bomb": ([png_claiming(60000, 50000)], r"input 0 .*4096 x 4096 pixel limit"),
    "header-over-limit": (
        [png_claiming(5000, 10)],
        r"input 0 is 5000 x 10 pixels \(width x height\): the limit is 4096 x 4096",
    ),
    "float-array": ([PIXELS.astype(np.float32)], r"input 0 has dtype float32: send uint8"),
    "rgba-array": (
        [np.zeros((8, 8, 4), np.uint8)],
        r"input 0 has shape \(8, 8, 4\): expected \(height, width, 3\)",
    ),
    "grey-array": ([np.zeros((8, 8), np.uint8)], r"input 0 has shape \(8, 8\)"),
    "empty-array": ([np.zeros((0, 8, 3), np.uint8)], r"input 0 has no pixels"),
    "huge-array": (
        [np.zeros((MAX_SIDE + 1, 1, 3), np.uint8)],
        r"input 0 is 1 x 4097 pixels \(width x height\): the limit is 4096 x 4096",
    ),
    "a-string": ([PIXELS, "cat.jpg"], r"input 1 is a str: send an encoded image \(bytes\)"),
    "no-inputs": ([], r"no inputs: send at least one image"),
    "too-many": ([PIXELS] * (MAX_BATCH + 1), r"65 inputs in one request: the limit is 64"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_a_bad_request(case: str) -> None:
    inputs, message = BAD_INPUTS[case]
    with pytest.raises(BadRequestError, match=message):
        to_batch(inputs, SIZE)


@pytest.mark.parametrize("single", [b"\x89PNG", PIXELS], ids=["bytes", "array"])
def test_one_input_outside_a_list_is_refused(single: object) -> None:
    with pytest.raises(BadRequestError, match=r"not a list: send a list of inputs"):
        to_batch(single, SIZE)  # type: ignore[arg-type]


def test_an_array_at_the_stored_size_reaches_the_model_as_sent() -> None:
    pixels = np.random.default_rng(2).integers(0, 256, (*SIZE, 3), dtype=np.uint8)
    view = pixels[:, ::-1]  # not C-contiguous: still the same pixels
    np.testing.assert_array_equal(to_batch([view], SIZE)[0], view)


@pytest.mark.usefixtures("tf_configured")
def test_the_predictor_refuses_bad_input_and_keeps_serving(predictors: dict) -> None:
    predictor = predictors[16]
    for case in ("not-an-image", "float-array", "header-bomb", "no-inputs"):
        inputs, message = BAD_INPUTS[case]
        with pytest.raises(BadRequestError, match=message):
            predictor.predict(inputs)
    assert predictor.predict([PIXELS])["mask"].shape == (1, 16, 16)
