"""The `split` section of params.yaml, and every section stage split reads."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SPLITS = ("train", "validation", "test")  # spec.data.splits.names


class Params(BaseModel):
    """The `split` section of params.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    by: Literal["customer_id", "row_id"] = "customer_id"  # hashed to choose a row's split
    buckets: int = Field(ge=2, le=1000)
    train: tuple[int, ...]
    validation: tuple[int, ...]
    test: tuple[int, ...]
    # A fold's customer -> split map, set only by `pedigree replicate --folds` (spec
    # replicate.folds.assignment); it replaces the buckets, and customers it leaves out are dropped.
    groups: str | None = None

    @model_validator(mode="after")
    def _partition(self) -> Params:
        chosen = [*self.train, *self.validation, *self.test]
        if sorted(chosen) != list(range(self.buckets)):
            raise ValueError(
                f"train, validation and test must share out the buckets 0..{self.buckets - 1}, "
                "each exactly once"
            )
        return self

    def split_of(self, key: str) -> str:
        """The split of the row whose `by` value is `key`: its bucket's."""
        bucket = int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % self.buckets
        return next(name for name in SPLITS if bucket in getattr(self, name))


# The params.yaml sections this stage reads, each with its model: pedigree checks them before
# anything runs.
PARAMS: dict[str, type[BaseModel]] = {"split": Params}
