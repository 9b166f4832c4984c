"""Request inputs -> uint8 RGB pixels at the stored size, exactly as the pipeline made its data.

An encoded image goes the way a raw image goes through the pipeline: ingest's mode rule (RGB as
is; a palette image with transparency through RGBA; any other mode through Pillow's
`convert("RGB")`, alpha dropped, see stages/ingest/loader.py), then transform's bilinear
`resize_image` to stats.json's `image_size` (stages/transform/resize.py). EXIF orientation is
ignored, as the pipeline ignores it. A pixel array is taken as the RGB pixels after decoding:
it is resized the same way, or passed on untouched when it already has the stored size (the
test split's stored pixels then reach the model unchanged, as in evaluate).

Everything a client can get wrong is a BadRequestError naming the input by its position: not an
image, a format outside ACCEPTED_FORMATS, an array that is not uint8 (height, width, 3), an image
with a side over MAX_SIDE (checked on the header, before any pixel is decoded: a small file can
claim a huge image), an empty batch or one over MAX_BATCH.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from pedigree.errors import BadRequestError
from stages.transform.resize import resize_image

MAX_SIDE = 4096  # pixels per side, for encoded images and arrays alike (transform's own limit)
MAX_BATCH = 64  # inputs per request: one model call holds them all
# Raster formats only: Pillow can open others (EPS, for one, runs Ghostscript), and a server
# decodes what strangers send. JPEG includes the MPO files many cameras write.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "PPM")
_FORMATS_TEXT = ", ".join(ACCEPTED_FORMATS)
_LIMIT_TEXT = f"{MAX_SIDE} x {MAX_SIDE}"


def _too_large(where: str, width: int, height: int) -> BadRequestError:
    return BadRequestError(
        f"{where} is {width} x {height} pixels (width x height): the limit is {_LIMIT_TEXT}; "
        "downscale it before sending"
    )


def decode_image(data: bytes, where: str) -> Image.Image:
    """Decode an encoded image to an RGB Pillow image (ingest's mode rule), header checked first."""
    if not data:
        raise BadRequestError(f"{where} is empty (0 bytes): send an encoded image")
    try:
        # Image.open reads the header only: the size is known before any pixel is decoded.
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        raise BadRequestError(
            f"{where} is not an image in an accepted format ({_FORMATS_TEXT})"
        ) from None
    except Image.DecompressionBombError:
        raise BadRequestError(
            f"{where} is an image far larger than the {_LIMIT_TEXT} pixel limit"
        ) from None
    except Exception as exc:  # noqa: BLE001 - header parsers raise many types on junk
        raise BadRequestError(f"{where} cannot be read as an image ({_describe(exc)})") from None
    width, height = image.size
    if width > MAX_SIDE or height > MAX_SIDE:
        raise _too_large(where, width, height)
    if width < 1 or height < 1:
        raise BadRequestError(f"{where} has no pixels ({width} x {height})")
    try:
        image.load()
        return _to_rgb(image)
    # Decoders raise a zoo of types (OSError, SyntaxError, ValueError, struct.error, ...) on
    # damaged data; each means "this input is unusable", never "the server is broken".
    except Exception as exc:  # noqa: BLE001
        raise BadRequestError(f"{where} cannot be decoded ({_describe(exc)})") from None


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _to_rgb(image: Image.Image) -> Image.Image:
    # ingest's rule (stages/ingest/loader.py _read_image), so a served image becomes the pixels
    # the pipeline would have made of the same file.
    if image.mode == "RGB":
        return image
    if image.mode == "P" and "transparency" in image.info:
        return image.convert("RGBA").convert("RGB")
    return image.convert("RGB")


def check_array(array: Any, where: str) -> np.ndarray:
    """A uint8 (height, width, 3) array within MAX_SIDE, or BadRequestError saying what is off."""
    if array.dtype != np.uint8:
        raise BadRequestError(
            f"{where} has dtype {array.dtype}: send uint8 RGB values 0..255 (or an encoded image)"
        )
    if array.ndim != 3 or array.shape[2] != 3:
        raise BadRequestError(
            f"{where} has shape {tuple(array.shape)}: expected (height, width, 3) RGB pixels"
        )
    height, width = int(array.shape[0]), int(array.shape[1])
    if width > MAX_SIDE or height > MAX_SIDE:
        raise _too_large(where, width, height)
    if width < 1 or height < 1:
        raise BadRequestError(f"{where} has no pixels (shape {tuple(array.shape)})")
    return array


def to_pixels(item: Any, where: str, size: tuple[int, int]) -> np.ndarray:
    """One input -> uint8 (height, width, 3) at `size` (height, width), C-order."""
    if isinstance(item, bytes | bytearray | memoryview):
        return resize_image(decode_image(bytes(item), where), size)
    if isinstance(item, np.ndarray):
        array = check_array(item, where)
        if array.shape[:2] == size:
            # Pillow's resize to the same size is a copy; skipping it keeps the bytes as sent.
            return np.ascontiguousarray(array)
        return resize_image(Image.fromarray(np.ascontiguousarray(array)), size)
    raise BadRequestError(
        f"{where} is a {type(item).__name__}: send an encoded image (bytes) or a uint8 "
        "(height, width, 3) array"
    )


def to_batch(inputs: Sequence[Any], size: tuple[int, int]) -> np.ndarray:
    """All inputs -> one uint8 batch (N, height, width, 3) at `size`, in order."""
    if isinstance(inputs, np.ndarray) and inputs.ndim == 4:
        inputs = list(inputs)  # a stacked batch of arrays
    elif isinstance(inputs, str | bytes | bytearray | memoryview | np.ndarray):
        raise BadRequestError(
            f"the inputs are one {type(inputs).__name__}, not a list: send a list of inputs"
        )
    count = len(inputs)
    if not count:
        raise BadRequestError("no inputs: send at least one image")
    if count > MAX_BATCH:
        raise BadRequestError(
            f"{count} inputs in one request: the limit is {MAX_BATCH}; split the request"
        )
    return np.stack([to_pixels(item, f"input {i}", size) for i, item in enumerate(inputs)])
