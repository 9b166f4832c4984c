"""Turn one manifest entry into resized arrays plus the record of what was done to it.

One sample at a time: its two files are read, checked against the manifest's sha256 (so the
hashes written to provenance.jsonl are facts, not claims), decoded, validated and resized; only
the small resized arrays leave this module, which keeps the stage's memory flat.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL
from PIL import Image

from pedigree.errors import SourceError
from stages.common.pets import TRIMAP_VALUES
from stages.transform.manifest import REBUILD, RawSample, sample_paths
from stages.transform.resize import IMAGE_METHOD, TRIMAP_METHOD, resize_image, resize_trimap

# The exact Pillow version goes into provenance: resampling output is only byte-stable for one.
RESAMPLER = f"Pillow {PIL.__version__}"
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)
_BAD_TRIMAP_VALUES = np.ones(256, dtype=bool)
_BAD_TRIMAP_VALUES[list(TRIMAP_VALUES)] = False


@dataclass(frozen=True)
class PreparedSample:
    """A resized sample: uint8 image (H, W, 3), uint8 trimap (H, W), and its transforms."""

    image: np.ndarray
    trimap: np.ndarray
    transforms: list[dict[str, Any]]


def _read_verified(path: Path, expected_sha256: str, sample_id: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"{path}: missing (listed for sample '{sample_id}')", REBUILD) from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror})", REBUILD) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise SourceError(
            f"{path}: sha256 {actual[:12]}... does not match the manifest's "
            f"{expected_sha256[:12]}... (file changed or corrupt)",
            REBUILD,
        )
    return data


def _decode(data: bytes, path: Path, mode: str) -> tuple[Image.Image, str]:
    try:
        # The bytes are already in memory (they were hashed), so no file handle stays open.
        image = Image.open(io.BytesIO(data))
        image.load()
    except _DECODE_ERRORS as exc:
        raise SourceError(f"{path}: cannot decode image ({exc})", REBUILD) from None
    if image.mode != mode:
        # ingest promises RGB images and L trimaps; converting here would hide a broken ingest
        # and make provenance lie about what was decoded.
        raise SourceError(f"{path}: expected mode {mode}, found {image.mode}", REBUILD)
    return image, image.format or "unknown"


def prepare_sample(raw_dir: Path, sample: RawSample, size: tuple[int, int]) -> PreparedSample:
    """Read, verify, decode and resize one sample to `size` (height, width).

    Raises SourceError naming the file if it is missing, differs from its manifest hash, cannot
    be decoded, has the wrong mode or size, or (trimap) holds a value outside {1, 2, 3}.
    """
    image_path, trimap_path = sample_paths(raw_dir, sample)
    image, image_format = _decode(
        _read_verified(image_path, sample.image_sha256, sample.id), image_path, "RGB"
    )
    trimap, trimap_format = _decode(
        _read_verified(trimap_path, sample.trimap_sha256, sample.id), trimap_path, "L"
    )
    expected = (sample.width, sample.height)
    for path, decoded in ((image_path, image), (trimap_path, trimap)):
        if decoded.size != expected:
            raise SourceError(
                f"{path}: size {decoded.size[0]}x{decoded.size[1]} differs from the manifest's "
                f"{sample.width}x{sample.height} (width x height)",
                REBUILD,
            )
    # bincount is one linear pass; np.unique would sort every pixel.
    counts = np.bincount(np.asarray(trimap, dtype=np.uint8).ravel(), minlength=256)
    bad = np.flatnonzero(counts * _BAD_TRIMAP_VALUES)
    if bad.size:
        raise SourceError(
            f"{trimap_path}: trimap holds value(s) {', '.join(str(v) for v in bad[:5])}; "
            f"only {', '.join(str(v) for v in TRIMAP_VALUES)} are labels",
            REBUILD,
        )
    original = [sample.height, sample.width]
    target = [size[0], size[1]]
    transforms: list[dict[str, Any]] = [
        {"op": "decode", "target": "image", "format": image_format, "mode": "RGB"},
        {"op": "decode", "target": "trimap", "format": trimap_format, "mode": "L"},
        {
            "op": "resize",
            "target": "image",
            "method": IMAGE_METHOD,
            "from": original,
            "to": target,
            "library": RESAMPLER,
        },
        {
            "op": "resize",
            "target": "trimap",
            "method": TRIMAP_METHOD,
            "from": original,
            "to": target,
            "library": RESAMPLER,
        },
        {"op": "encode", "format": "raw-uint8", "image": "HxWx3 C-order", "trimap": "HxW C-order"},
    ]
    return PreparedSample(resize_image(image, size), resize_trimap(trimap, size), transforms)
