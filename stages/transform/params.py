"""The `transform` section of params.yaml, validated strictly.

Every rule here exists so that a typo fails loudly at load time (with file, line and key path)
instead of silently producing a different data set: unknown keys are refused, integers must be
integers (YAML `true` is not 1), and the bucket map must cover every bucket exactly once.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

# The four splits, in the order the stage processes and reports them.
SPLITS: tuple[str, ...] = ("train", "validation", "calibration", "test")

MIN_SIDE = 8  # smaller images carry too little for the model and break 3x3 pooling stacks
MAX_SIDE = 4096  # a guard against a typo (12800 instead of 128) eating the machine's memory


def _between(what: str, low: int, high: int, unit: str = "") -> AfterValidator:
    """A range check whose message says what the value is for and what to write instead."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(
                f"{what} must be between {low} and {high}{unit} (got {value}); "
                "use a value in that range"
            )
        return value

    return AfterValidator(check)


Side = Annotated[StrictInt, _between("an image side", MIN_SIDE, MAX_SIDE, " pixels")]


def _relative_file(value: str) -> str:
    """A relative path to a file inside the stage's working folder."""
    parts = value.replace("\\", "/").split("/")
    if not value.strip() or value.startswith("/") or ".." in parts:
        raise ValueError(
            f"groups must be a relative path inside the project (got {value!r}); "
            "leave it unset: `pedigree replicate --folds` sets it"
        )
    return value


class SplitParams(BaseModel):
    """`transform.split`: md5(animal id) % buckets picks a bucket; each bucket names a split."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    buckets: Annotated[StrictInt, _between("buckets", len(SPLITS), 10_000)]  # >= one per split
    train: tuple[StrictInt, ...]
    validation: tuple[StrictInt, ...]
    calibration: tuple[StrictInt, ...]
    test: tuple[StrictInt, ...]
    # A fold's group -> split map, written by `pedigree replicate --folds` (spec
    # replicate.folds.assignment): when set, it decides each animal's split instead of the
    # buckets, and animals it does not list (the fixed test split's) are left out.
    groups: Annotated[str, AfterValidator(_relative_file)] | None = None

    @field_validator(*SPLITS)
    @classmethod
    def _buckets_in_range(cls, value: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        # Field-level so the error points at the exact list (transform.split.train), not the map.
        if not value:
            raise ValueError(
                f"split '{info.field_name}' has no buckets; every split needs at least one "
                f"(move a bucket into it from train)"
            )
        buckets = info.data.get("buckets")
        if isinstance(buckets, int):
            bad = sorted({b for b in value if not 0 <= b < buckets})
            if bad:
                raise ValueError(
                    f"bucket(s) {_fmt(bad)} out of range: buckets go from 0 to {buckets - 1} "
                    f"(buckets: {buckets}); remove them or raise 'buckets'"
                )
        repeated = sorted({b for b in value if value.count(b) > 1})
        if repeated:
            raise ValueError(
                f"bucket(s) {_fmt(repeated)} listed more than once in '{info.field_name}'; "
                "list each bucket once"
            )
        return value

    @model_validator(mode="after")
    def _every_bucket_exactly_once(self) -> SplitParams:
        owners: dict[int, list[str]] = {b: [] for b in range(self.buckets)}
        for split in SPLITS:
            for bucket in getattr(self, split):
                owners[bucket].append(split)
        problems: list[str] = []
        missing = [b for b, names in owners.items() if not names]
        if missing:
            problems.append(
                f"bucket(s) {_fmt(missing)} not assigned to any split "
                f"(add each to one of {', '.join(SPLITS)})"
            )
        for bucket, names in owners.items():
            if len(names) > 1:
                problems.append(
                    f"bucket {bucket} is assigned to {' and '.join(names)} "
                    "(keep it in exactly one split, or one animal could land in two)"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def table(self) -> tuple[str, ...]:
        """The split name of each bucket, indexed by bucket number."""
        names = [""] * self.buckets
        for split in SPLITS:
            for bucket in getattr(self, split):
                names[bucket] = split
        return tuple(names)

    def assignment(self) -> dict[str, list[int]]:
        """Split name -> sorted bucket numbers, in SPLITS order (for splits.json)."""
        return {split: sorted(getattr(self, split)) for split in SPLITS}


class TransformParams(BaseModel):
    """The whole `transform` section of params.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # (height, width): the order numpy and the model use; Pillow's (width, height) is
    # converted in resize.py only.
    image_size: tuple[Side, Side]
    shard_size: Annotated[StrictInt, _between("shard_size (samples per shard)", 1, 1_000_000)]
    split: SplitParams

    @property
    def height(self) -> int:
        """Output image height in pixels."""
        return self.image_size[0]

    @property
    def width(self) -> int:
        """Output image width in pixels."""
        return self.image_size[1]


def _fmt(buckets: list[int]) -> str:
    return ", ".join(str(b) for b in buckets)


# The params.yaml sections this stage reads, each with its model: pedigree checks them before
# anything runs (see pedigree.spec.params_check).
PARAMS: dict[str, type[BaseModel]] = {"transform": TransformParams}
