"""The `calibrate` section of params.yaml, validated strictly.

Unknown keys are refused and integers must be integers (YAML `true` is not 1), so a typo fails at
load time with file, line and key path instead of silently calibrating differently.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, field_validator

from stages.common.determinism import DeterminismParams
from stages.common.training import ModelParams

# A bound outside this range is a typo, not a temperature: 0.001 or 1000 already mean an
# (almost) one-hot or (almost) uniform softmax.
MIN_TEMPERATURE = 1e-3
MAX_TEMPERATURE = 1e3

# float64 copies of the logits are made while fitting (3 classes x 8 bytes x a few
# temporaries per pixel), so 20M pixels is already ~2 GB: a guard against a typo.
MAX_PIXELS_LIMIT = 20_000_000


def _plain_number(value: object) -> object:
    # YAML writes 20 as an int, so ints are welcome; booleans and strings are typos.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a temperature bound must be a number (got {value!r})")
    return value


Number = Annotated[float, BeforeValidator(_plain_number)]


class CalibrateParams(BaseModel):
    """params.yaml `calibrate`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bins: StrictInt = Field(ge=2, le=100)
    temperature_bounds: tuple[Number, Number]
    batch_size: StrictInt = Field(ge=1, le=1024)
    max_pixels: StrictInt = Field(ge=1000, le=MAX_PIXELS_LIMIT)

    @field_validator("temperature_bounds", mode="before")
    @classmethod
    def _two_numbers(cls, value: object) -> object:
        # Before tuple parsing, so `[0.5]` says what is wanted rather than "key '1' missing".
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ValueError(f"temperature_bounds must be [low, high], two numbers (got {value!r})")
        return value

    @field_validator("temperature_bounds")
    @classmethod
    def _ordered_bounds(cls, value: tuple[float, float]) -> tuple[float, float]:
        # Field-level so the error points at calibrate.temperature_bounds, with its line.
        low, high = float(value[0]), float(value[1])
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"temperature bounds must be finite numbers (got [{low}, {high}])")
        if not MIN_TEMPERATURE <= low < high <= MAX_TEMPERATURE:
            raise ValueError(
                f"temperature bounds must satisfy {MIN_TEMPERATURE} <= low < high <= "
                f"{MAX_TEMPERATURE:g} (got [{low:g}, {high:g}]); write them as [low, high]"
            )
        # T = 1 is the uncalibrated model and the stage's fallback: a search range that
        # excluded it could only be a mistake (it would forbid "no change").
        if not low <= 1.0 <= high:
            raise ValueError(
                f"temperature bounds [{low:g}, {high:g}] must include 1.0 (the uncalibrated "
                "model); e.g. [0.05, 20.0]"
            )
        return low, high


# The params.yaml sections this stage reads, each with its model: pedigree checks them before
# anything runs (see pedigree.spec.params_check).
PARAMS: dict[str, type[BaseModel]] = {
    "calibrate": CalibrateParams,
    "model": ModelParams,
    "determinism": DeterminismParams,
}
