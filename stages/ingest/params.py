"""The `ingest` section of params.yaml as a strict, frozen pydantic model.

Every validator says what is wrong *and* how to fix it, because the message reaches the user as
`params.yaml:LINE [ingest.KEY]: MESSAGE` through `stagekit.load_params`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_serializer,
)

SYNTHETIC = "synthetic"
SHA256_RE = re.compile(r"[0-9a-f]{64}")
# Below this the pet drawing has too few pixels for a recognisable head, ears and border band.
MIN_SIDE, MAX_SIDE = 32, 4096
MAX_COUNT = 1_000_000
# Label-noise kinds of `synthetic.corrupt` (see stages/ingest/synthetic.py); `mixed` draws one of
# the others per image.
CORRUPT_KINDS = ("shift", "dilate", "erode")
MIXED = "mixed"
MAX_CORRUPT_FRACTION = 0.5


def is_url(source: str) -> bool:
    """True when `source` is written as a URL (`scheme://...`) rather than a local path."""
    return "://" in source


def _pair(value: Any, key: str, example: str) -> Any:
    """Refuse anything but a two-item list up front, so the message shows the expected shape."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{key} must be a [min, max] pair like {example} (got {value!r})")
    return value


def _non_negative_seed(value: int) -> int:
    # numpy's SeedSequence refuses negative entropy; say so here rather than deep in numpy.
    if value < 0:
        raise ValueError(f"seed must be 0 or more (got {value}); use any non-negative integer")
    return value


class CorruptParams(BaseModel):
    """Deliberate label noise: corrupt the trimaps of a known, seeded set of synthetic images.

    `fraction` of the images (exactly `round(fraction * count)`) get a wrong trimap: `shift`
    (the outline misplaced by some pixels), `dilate` (the pet drawn too large), `erode` (too
    small), or `mixed` (one of those per image). Their photos are untouched, and the set is drawn
    from `seed` alone, never from the image-drawing randomness. Off (fraction 0) by default.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    fraction: StrictFloat = 0.0  # strict still takes an int (`fraction: 0`), never a bool
    seed: StrictInt = 0
    kind: StrictStr = MIXED

    @field_validator("fraction")
    @classmethod
    def _fraction(cls, value: float) -> float:
        # `not <=` also refuses NaN, which compares false with everything.
        if not 0 <= value <= MAX_CORRUPT_FRACTION:
            raise ValueError(
                f"fraction must be between 0 and {MAX_CORRUPT_FRACTION} (got {value}); it is the "
                "share of images whose trimap is corrupted, e.g. `fraction: 0.1` (0 turns it off)"
            )
        return float(value)

    _seed = field_validator("seed")(_non_negative_seed)

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        kinds = (*CORRUPT_KINDS, MIXED)
        if value not in kinds:
            raise ValueError(f"kind must be one of {', '.join(kinds)} (got {value!r})")
        return value

    @property
    def enabled(self) -> bool:
        """True when some trimaps are to be corrupted."""
        return self.fraction > 0


class SyntheticParams(BaseModel):
    """How the built-in synthetic data set is generated (used when `source: synthetic`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: StrictInt = 42
    count: StrictInt = 400
    images_per_animal: tuple[StrictInt, StrictInt] = (2, 5)
    image_size: tuple[StrictInt, StrictInt] = (160, 320)
    corrupt: CorruptParams = CorruptParams()

    _seed = field_validator("seed")(_non_negative_seed)

    @field_validator("count")
    @classmethod
    def _count(cls, value: int) -> int:
        if not 1 <= value <= MAX_COUNT:
            raise ValueError(
                f"count must be between 1 and {MAX_COUNT} (got {value}); "
                "set it to the number of images to generate, e.g. `count: 400`"
            )
        return value

    @field_validator("images_per_animal", mode="before")
    @classmethod
    def _images_per_animal_shape(cls, value: Any) -> Any:
        return _pair(value, "images_per_animal", "[2, 5]")

    @field_validator("images_per_animal")
    @classmethod
    def _images_per_animal(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if low < 1:
            raise ValueError(
                f"images_per_animal min must be at least 1 (got {low}); every animal needs a photo"
            )
        if low > high:
            raise ValueError(
                f"images_per_animal min {low} is above max {high}; "
                f"write [min, max], e.g. [{high}, {low}]"
            )
        return value

    @field_validator("image_size", mode="before")
    @classmethod
    def _image_size_shape(cls, value: Any) -> Any:
        return _pair(value, "image_size", "[160, 320]")

    @field_validator("image_size")
    @classmethod
    def _image_size(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if low < MIN_SIDE or high > MAX_SIDE:
            raise ValueError(
                f"image_size sides must lie within {MIN_SIDE}..{MAX_SIDE} pixels "
                f"(got [{low}, {high}]); e.g. `image_size: [160, 320]`"
            )
        if low > high:
            raise ValueError(
                f"image_size min {low} is above max {high}; write [min, max], e.g. [{high}, {low}]"
            )
        return value

    @field_validator("corrupt")
    @classmethod
    def _corrupt(cls, value: CorruptParams, info: ValidationInfo) -> CorruptParams:
        count = info.data.get("count")  # absent when `count` itself failed validation
        if value.enabled and isinstance(count, int) and round(value.fraction * count) == 0:
            raise ValueError(
                f"fraction {value.fraction} of count {count} corrupts no image "
                f"(round({value.fraction} * {count}) = 0); raise fraction or count, or set "
                "fraction: 0 to turn corruption off"
            )
        return value

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Off (the default), `corrupt` is left out of the dump, so the manifest's `source` entry
        # (and so data/raw) stays byte-identical to one written before the key existed.
        data = handler(self)
        if isinstance(data, dict) and not self.corrupt.enabled:
            data.pop("corrupt", None)
        return data


class IngestParams(BaseModel):
    """The whole `ingest` section: where the raw data comes from and how it is pinned.

    Archive bounds (a `.tar.gz` source, a downloaded one, or the images.tar.gz and
    annotations.tar.gz pair in a source) are checked from the tar headers *before* anything is
    written, and again while extracting; an archive over any of them is refused (exit 2) with
    the numbers and the key to raise. The defaults fit the real Oxford-IIIT Pet archives
    (images.tar.gz: ~790 MB, ~800 MB extracted; annotations.tar.gz: ~19 MB, ~60 MB extracted):

    - `max_archive_bytes` (4 GiB): total size of the files one archive expands to;
    - `max_member_bytes` (1 GiB): size of one file in an archive;
    - `max_members` (100000): number of entries in one archive;
    - `max_expansion_ratio` (100): extracted size / archive size; archives expanding to less
      than 64 MiB are never refused for their ratio (a small archive cannot be a bomb);
    - `max_download_bytes` (2 GiB): size of a downloaded `source` URL.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: StrictStr = SYNTHETIC
    # validate_default: the "a URL needs sha256" rule must also fire when the key is left out.
    sha256: StrictStr | None = Field(default=None, validate_default=True)
    synthetic: SyntheticParams = SyntheticParams()
    max_archive_bytes: StrictInt = Field(default=4 << 30, gt=0)
    max_member_bytes: StrictInt = Field(default=1 << 30, gt=0)
    max_members: StrictInt = Field(default=100_000, gt=0)
    max_expansion_ratio: StrictInt | StrictFloat = Field(default=100, gt=0)
    max_download_bytes: StrictInt = Field(default=2 << 30, gt=0)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError(
                "source is empty; use `synthetic`, a folder, a .tar.gz file or an https:// URL"
            )
        if not is_url(value):
            return value
        parts = urlsplit(value)
        scheme = parts.scheme.lower()
        if scheme == "http":
            # No TLS means anyone on the path can swap the data; the sha256 pin would catch it, but
            # only after a wasted download, and it invites pinning whatever arrived. Refuse.
            raise ValueError(
                f"plain http:// is not allowed for source {value!r} (no TLS); "
                "use the https:// address of the same file"
            )
        if scheme != "https":
            raise ValueError(
                f"unsupported URL scheme {parts.scheme!r} in source {value!r}; "
                "use an https:// URL, or a local folder or .tar.gz path without a scheme"
            )
        if not parts.hostname:
            raise ValueError(
                f"source URL {value!r} has no host; write it like https://host/path.tar.gz"
            )
        return value

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, value: str | None, info: ValidationInfo) -> str | None:
        source = info.data.get("source")  # absent when `source` itself failed validation
        if value is None:
            if isinstance(source, str) and is_url(source):
                raise ValueError(
                    "a URL source needs sha256: the download is verified against it before it "
                    "is used; add `sha256: <hex>` (the output of `sha256sum FILE` on a trusted "
                    "copy)"
                )
            return None
        digest = value.strip().lower()
        if not SHA256_RE.fullmatch(digest):
            raise ValueError(
                f"sha256 must be exactly 64 hexadecimal characters (got {len(value.strip())} "
                "characters); copy the first field printed by `sha256sum FILE`"
            )
        if source == SYNTHETIC:
            raise ValueError(
                "sha256 pins a tarball or URL, but source is `synthetic`; set `sha256: null`"
            )
        return digest

    @property
    def is_synthetic(self) -> bool:
        """True when the built-in generator is the source."""
        return self.source == SYNTHETIC


# The params.yaml sections this stage reads, each with its model: pedigree checks them before
# anything runs (see pedigree.spec.params_check).
PARAMS: dict[str, type[BaseModel]] = {"ingest": IngestParams}
