"""The spread of the evaluation metrics over seeds (and folds): flattening, then per-metric
statistics, and the per fold x seed table.

The standard deviation is the sample standard deviation (divisor n - 1): the seeds are a sample
of the seeds one could have drawn, and the question is how much a metric moves between them.

The 95% interval of the mean (`mean_interval`, `Spread.interval`) is Student's t interval:

    mean +- t(0.975, n - 1) * std / sqrt(n)

with the sample std above; none for a single value (n - 1 = 0 degrees of freedom). It treats the
n values as independent draws; runs over folds share most of their training data, so the interval
is a summary of how the runs varied, not an exact coverage guarantee. The quantile t(0.975, df)
(`t_975`) needs no scipy: for df 1..30 it is read from a table (the exact quantiles to 9
decimals, solved from the closed-form t distribution function of integer df; they agree with
published tables, e.g. 2.776445 at df 4); above 30 it is the Cornish-Fisher expansion of the
t quantile around the normal quantile z = 1.959964 (`statistics.NormalDist`), to the 1/df^4
term (Abramowitz and Stegun 26.7.5):

    t = z + g1(z)/df + g2(z)/df^2 + g3(z)/df^3 + g4(z)/df^4
    g1 = (z^3 + z) / 4
    g2 = (5z^5 + 16z^3 + 3z) / 96
    g3 = (3z^7 + 19z^5 + 17z^3 - 15z) / 384
    g4 = (79z^9 + 776z^7 + 1482z^5 - 1920z^3 - 945z) / 92160

whose error is below 3e-8 at df 31 and falls with df (tests check it against the exact t
distribution function of integer df).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DECIMALS = 6  # as evaluate rounds metrics.json
STD_KIND = "sample standard deviation (n - 1)"
INTERVAL_KIND = "95% Student-t interval of the mean: mean +- t(0.975, n - 1) * std / sqrt(n)"

# t(0.975, df) for df = 1..30 (index df - 1): the exact quantiles, 9 decimals.
T_975_TABLE = (
    12.706204736,
    4.302652730,
    3.182446305,
    2.776445105,
    2.570581836,
    2.446911851,
    2.364624252,
    2.306004135,
    2.262157163,
    2.228138852,
    2.200985160,
    2.178812830,
    2.160368656,
    2.144786688,
    2.131449546,
    2.119905299,
    2.109815578,
    2.100922040,
    2.093024054,
    2.085963447,
    2.079613845,
    2.073873068,
    2.068657610,
    2.063898562,
    2.059538553,
    2.055529439,
    2.051830516,
    2.048407142,
    2.045229642,
    2.042272456,
)


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
    # the 95% interval of the mean (low, high), None with a single value; see the module doc
    interval: tuple[float, float] | None = None

    @property
    def range(self) -> float:
        """max - min."""
        return self.max - self.min

    def to_dict(self, *, interval: bool = False) -> dict[str, Any]:
        """JSON-ready, rounded to the metrics' own precision.

        With `interval`, also "interval": [low, high] (null with a single value); without it the
        keys are the ones summaries written before intervals existed have, so their bytes stay.
        """
        doc: dict[str, Any] = {
            "n": self.n,
            "mean": rounded(self.mean),
            "std": None if self.std is None else rounded(self.std),
            "min": rounded(self.min),
            "max": rounded(self.max),
            "range": rounded(self.range),
        }
        if interval:
            doc["interval"] = (
                None if self.interval is None else [rounded(bound) for bound in self.interval]
            )
        return doc


def rounded(value: float) -> float:
    # round() can give -0.0; the summary's bytes must not depend on that
    return round(value, DECIMALS) + 0.0


def t_975(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom (df >= 1).

    A table for df 1..30, the Cornish-Fisher expansion above (see the module docstring)."""
    if isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise ValueError(f"t_975() needs a whole number of degrees of freedom >= 1, not {df!r}")
    if df <= len(T_975_TABLE):
        return T_975_TABLE[df - 1]
    z = statistics.NormalDist().inv_cdf(0.975)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def mean_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """The 95% Student-t interval of the mean of `values`: (low, high); None for fewer than two."""
    n = len(values)
    if n < 2:
        return None
    mean = statistics.fmean(values)
    half = t_975(n - 1) * statistics.stdev(values) / math.sqrt(n)
    return mean - half, mean + half


def spread(values: Sequence[float]) -> Spread:
    """Mean, sample standard deviation (n - 1), min, max and the 95% interval of the mean of at
    least one value."""
    if not values:
        raise ValueError("spread() needs at least one value")
    std = statistics.stdev(values) if len(values) > 1 else None
    mean = statistics.fmean(values)
    return Spread(len(values), mean, std, min(values), max(values), mean_interval(values))


def spreads(runs: Sequence[Mapping[str, float]]) -> dict[str, Spread]:
    """Per metric key path, the spread over the runs that report it (sorted by key)."""
    keys = sorted({key for run in runs for key in run})
    return {key: spread([run[key] for run in runs if key in run]) for key in keys}


def fold_table(
    runs: Sequence[tuple[int, int, Mapping[str, float]]], seeds: Sequence[int] = ()
) -> list[dict[str, Any]]:
    """The per fold x seed table: one JSON-ready row per (fold, seed, metrics) run, sorted by
    fold, then by seed (in the order of `seeds` when given: the order the user asked for), each
    {"fold", "seed", "metrics": {key path: value}} with the values rounded and the keys sorted.
    A (fold, seed) pair given twice is a ValueError."""
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    for fold, seed, metrics in runs:
        if (fold, seed) in rows:
            raise ValueError(f"fold {fold}, seed {seed} is in the runs more than once")
        values = {key: rounded(metrics[key]) for key in sorted(metrics)}
        rows[(fold, seed)] = {"fold": fold, "seed": seed, "metrics": values}
    order = {seed: i for i, seed in enumerate(seeds)}
    return [rows[key] for key in sorted(rows, key=lambda k: (k[0], order.get(k[1], k[1])))]
