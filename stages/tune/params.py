"""The `tune` section of params.yaml: trial budget, sampler, pruner and search space, strictly.

Every rule here turns a typo into an error at load time (reported with file, line and key path by
`load_params`) instead of a search that silently explores the wrong space: unknown keys are
refused, numbers must be numbers (YAML's `true` is not 1, and YAML 1.1 reads `5e-4` as text), and
every value the search can pick must be one that `Hyperparameters` (and so the train stage)
accepts.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from stages.common.determinism import DeterminismParams
from stages.common.training import ModelParams

# The bounds `Hyperparameters` enforces (stages/common/training.py): a value the search may pick
# must also be one train accepts, or the best trial could produce an unusable best_params.json.
LEARNING_RATE_MAX = 1.0  # exclusive
DROPOUT_MAX = 1.0  # exclusive
BATCH_SIZE_RANGE = (1, 1024)
BASE_FILTERS_RANGE = (4, 128)


def _no_text_numbers(value: Any) -> Any:
    """Refuse numbers written as text with a message that says how to write them."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value  # not number-like: let the type check report it
        raise ValueError(
            f"'{value}' is read as text, not a number (YAML 1.1 needs a dot in exponent "
            "notation); write it like 0.0005 or 5.0e-4"
        )
    return value


Number = Annotated[float, Strict(), BeforeValidator(_no_text_numbers)]


def _positive(what: str, low: int = 1) -> AfterValidator:
    def check(value: int) -> int:
        if value < low:
            raise ValueError(f"{what} must be {low} or more (got {value})")
        return value

    return AfterValidator(check)


class FloatRange(BaseModel):
    """A float searched between `low` and `high` (inclusive), on a log scale if `log`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    low: Number
    high: Number
    log: StrictBool = False

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("low and high must be finite numbers")
        if self.low >= self.high:
            raise ValueError(
                f"low ({self.low}) must be below high ({self.high}); "
                "to fix a value, narrow the range instead of inverting it"
            )
        if self.log and self.low <= 0:
            raise ValueError(
                f"a log-scale range needs low > 0 (got low: {self.low}); "
                "raise low or set log: false"
            )
        return self


def _choices(what: str, low: int, high: int) -> AfterValidator:
    """A categorical list check: non-empty, no repeats, every value in [low, high]."""

    def check(values: tuple[int, ...]) -> tuple[int, ...]:
        if not values:
            raise ValueError(f"{what} needs at least one value to choose from, like [8, 16]")
        bad = [v for v in values if not low <= v <= high]
        if bad:
            raise ValueError(
                f"{what} value(s) {bad} out of range: each must be between {low} and {high}"
            )
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ValueError(f"{what} lists {repeated} more than once; list each value once")
        return values

    return AfterValidator(check)


class SearchSpace(BaseModel):
    """`tune.search_space`: what each trial's hyperparameters are drawn from.

    The two floats are ranges; the two integers are lists of choices (categorical: TPE treats
    them as unordered, which suits powers of two). A one-element list pins a value.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    learning_rate: FloatRange
    batch_size: Annotated[tuple[StrictInt, ...], _choices("batch_size", *BATCH_SIZE_RANGE)]
    base_filters: Annotated[tuple[StrictInt, ...], _choices("base_filters", *BASE_FILTERS_RANGE)]
    dropout: FloatRange

    @field_validator("learning_rate")
    @classmethod
    def _learning_rate_bounds(cls, value: FloatRange) -> FloatRange:
        if value.low <= 0 or value.high >= LEARNING_RATE_MAX:
            raise ValueError(
                f"learning_rate must lie strictly between 0 and {LEARNING_RATE_MAX} "
                f"(got {value.low}..{value.high})"
            )
        return value

    @field_validator("dropout")
    @classmethod
    def _dropout_bounds(cls, value: FloatRange) -> FloatRange:
        if value.low < 0 or value.high >= DROPOUT_MAX:
            raise ValueError(
                f"dropout must lie in [0, {DROPOUT_MAX}) (got {value.low}..{value.high})"
            )
        return value


class PrunerParams(BaseModel):
    """`tune.pruner`: a median pruner over per-epoch validation losses.

    A trial is stopped when its validation loss after an epoch is worse than the median of the
    earlier trials at the same epoch; never during the first `startup_trials` trials, and never
    within a trial's first `warmup_epochs` epochs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    startup_trials: Annotated[StrictInt, _positive("pruner startup_trials", 0)]
    warmup_epochs: Annotated[StrictInt, _positive("pruner warmup_epochs", 0)]


class TuneParams(BaseModel):
    """The whole `tune` section of params.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trials: Annotated[StrictInt, _positive("trials"), Field(le=10_000)]
    epochs: Annotated[StrictInt, _positive("epochs"), Field(le=10_000)]
    seed: Annotated[StrictInt, _positive("seed", 0), Field(le=2**32 - 1)]
    # TPE samples at random for this many trials before it models the results.
    random_trials: Annotated[StrictInt, _positive("random_trials")]
    max_train_samples: Annotated[StrictInt, _positive("max_train_samples")] | None = None
    search_space: SearchSpace
    pruner: PrunerParams

    @field_validator("random_trials")
    @classmethod
    def _random_within_budget(cls, value: int, info: ValidationInfo) -> int:
        # More random trials than trials would mean TPE never runs: almost certainly a slip.
        trials = info.data.get("trials")
        if isinstance(trials, int) and value > trials:
            raise ValueError(
                f"random_trials ({value}) is above trials ({trials}): TPE would never run; "
                "lower random_trials or raise trials"
            )
        return value


# The params.yaml sections this stage reads, each with its model: pedigree checks them before
# anything runs (see pedigree.spec.params_check).
PARAMS: dict[str, type[BaseModel]] = {
    "tune": TuneParams,
    "model": ModelParams,
    "determinism": DeterminismParams,
}
