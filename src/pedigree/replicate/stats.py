"""The spread of the evaluation metrics over seeds: flattening, then per-metric statistics.

The standard deviation is the sample standard deviation (divisor n - 1): the seeds are a sample
of the seeds one could have drawn, and the question is how much a metric moves between them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DECIMALS = 6  # as evaluate rounds metrics.json
STD_KIND = "sample standard deviation (n - 1)"


def flatten_numbers(data: Any, prefix: str = "") -> dict[str, float]:
    """Every numeric leaf of `data` as {"a.b": value}; booleans, strings and None are left out."""
    found: dict[str, float] = {}
    if isinstance(data, Mapping):
        for key in sorted(data, key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            found.update(flatten_numbers(data[key], path))
    elif isinstance(data, int | float) and not isinstance(data, bool) and math.isfinite(data):
        found[prefix] = float(data)
    return found


@dataclass(frozen=True)
class Spread:
    """One metric over the seeds that have it."""

    n: int
    mean: float
    std: float | None  # None with a single value: a sample std needs two
    min: float
    max: float

    @property
    def range(self) -> float:
        """max - min."""
        return self.max - self.min

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, rounded to the metrics' own precision."""
        return {
            "n": self.n,
            "mean": rounded(self.mean),
            "std": None if self.std is None else rounded(self.std),
            "min": rounded(self.min),
            "max": rounded(self.max),
            "range": rounded(self.range),
        }


def rounded(value: float) -> float:
    # round() can give -0.0; the summary's bytes must not depend on that
    return round(value, DECIMALS) + 0.0


def spread(values: Sequence[float]) -> Spread:
    """Mean, sample standard deviation (n - 1), min and max of at least one value."""
    if not values:
        raise ValueError("spread() needs at least one value")
    std = statistics.stdev(values) if len(values) > 1 else None
    return Spread(len(values), statistics.fmean(values), std, min(values), max(values))


def spreads(runs: Sequence[Mapping[str, float]]) -> dict[str, Spread]:
    """Per metric key path, the spread over the runs that report it (sorted by key)."""
    keys = sorted({key for run in runs for key in run})
    return {key: spread([run[key] for run in runs if key in run]) for key in keys}
