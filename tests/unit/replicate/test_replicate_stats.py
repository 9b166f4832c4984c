"""The spread over seeds (and folds): flattening metrics.json, the per-metric statistics, the 95%
interval of the mean and the per fold x seed table."""

from __future__ import annotations

import json
import math
import random
import statistics

import numpy as np
import pytest

from pedigree.replicate.stats import (
    INTERVAL_KIND,
    STD_KIND,
    T_975_TABLE,
    Spread,
    flatten_numbers,
    fold_table,
    mean_interval,
    spread,
    spreads,
    t_975,
)


def test_flatten_keeps_numeric_leaves_as_key_paths() -> None:
    metrics = {
        "split": "test",
        "images": 3,
        "mean_iou": 0.5,
        "iou": {"pet": 0.4, "border": None},
        "ece": {"original": 0.2, "calibrated": 0.1},
        "flag": True,
        "bad": math.nan,
    }
    assert flatten_numbers(metrics) == {
        "images": 3.0,
        "mean_iou": 0.5,
        "iou.pet": 0.4,
        "ece.calibrated": 0.1,
        "ece.original": 0.2,
    }


def test_spread_uses_the_sample_standard_deviation() -> None:
    values = [0.1, 0.2, 0.4]
    found = spread(values)
    assert found.n == 3 and found.mean == pytest.approx(0.7 / 3)
    # n - 1 in the divisor, not n
    expected = math.sqrt(sum((v - 0.7 / 3) ** 2 for v in values) / 2)
    assert found.std == pytest.approx(expected)
    assert found.std != pytest.approx(statistics.pstdev(values))
    assert (found.min, found.max) == (0.1, 0.4) and found.range == pytest.approx(0.3)
    assert "n - 1" in STD_KIND


def test_spread_of_one_value_has_no_std() -> None:
    found = spread([0.3])
    assert found.std is None and found.range == 0.0
    assert found.to_dict() == {
        "n": 1,
        "mean": 0.3,
        "std": None,
        "min": 0.3,
        "max": 0.3,
        "range": 0.0,
    }


def test_spread_needs_a_value() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        spread([])


def test_to_dict_rounds_like_metrics_json_and_never_writes_minus_zero() -> None:
    found = spread([0.1234566, 0.1234568]).to_dict()
    assert found["mean"] == 0.123457 and found["std"] == 0.0
    assert math.copysign(1.0, found["std"]) == 1.0
    assert math.copysign(1.0, spread([-1e-9, -1e-9]).to_dict()["mean"]) == 1.0


def test_spreads_per_metric_over_the_runs_that_have_it() -> None:
    runs = [{"a": 1.0, "b": 2.0}, {"a": 3.0}]
    found = spreads(runs)
    assert list(found) == ["a", "b"]
    assert (
        found["a"].n == 2
        and found["a"].mean == 2.0
        and found["a"].std == pytest.approx(1.414214, abs=1e-6)
    )
    assert found["b"].n == 1 and found["b"].std is None


# t(0.975, df) as published (6 decimals), e.g. in the t tables of statistics textbooks
PUBLISHED = {
    1: 12.706205,
    2: 4.302653,
    3: 3.182446,
    4: 2.776445,
    5: 2.570582,
    6: 2.446912,
    7: 2.364624,
    8: 2.306004,
    9: 2.262157,
    10: 2.228139,
    12: 2.178813,
    15: 2.131450,
    20: 2.085963,
    25: 2.059539,
    29: 2.045230,
    30: 2.042272,
}


def t_cdf(t: float, df: int) -> float:
    """P(T <= t) of Student's t with integer df, in closed form (Abramowitz and Stegun 26.7.3/4):
    an independent check of the table and the expansion, with no scipy."""
    theta = math.atan(t / math.sqrt(df))
    sin, cos = math.sin(theta), math.cos(theta)
    if df % 2:
        total, term = 0.0, cos
        if df > 1:
            total = term
            for k in range(3, df - 1, 2):
                term *= cos * cos * (k - 1) / k
                total += term
        inside = 2 / math.pi * (theta + sin * total)
    else:
        total = term = 1.0
        for k in range(2, df - 1, 2):
            term *= cos * cos * (k - 1) / k
            total += term
        inside = sin * total
    return (1 + inside) / 2


def exact_t_975(df: int) -> float:
    low, high = 0.0, 20.0
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if t_cdf(middle, df) < 0.975 else (low, middle)
    return (low + high) / 2


def test_t_table_matches_published_quantiles() -> None:
    assert len(T_975_TABLE) == 30
    for df, value in PUBLISHED.items():
        assert t_975(df) == pytest.approx(value, abs=1e-6), df
    for df in range(1, 31):  # and the exact distribution function, to the table's 9 decimals
        assert t_975(df) == pytest.approx(exact_t_975(df), abs=2e-9), df
    assert all(a > b for a, b in zip(T_975_TABLE, T_975_TABLE[1:], strict=False))


def test_t_beyond_the_table_follows_the_expansion() -> None:
    for df, value in {40: 2.021075, 60: 2.000298, 120: 1.979930}.items():
        assert t_975(df) == pytest.approx(value, abs=1e-3)
        assert t_975(df) == pytest.approx(value, abs=1e-6)  # in fact much closer
    for df in [*range(31, 80), 100, 250, 1000, 10_000]:
        assert t_975(df) == pytest.approx(exact_t_975(df), abs=1e-7), df
    assert t_975(10**9) == pytest.approx(1.959964, abs=1e-6)  # the normal quantile
    assert t_975(30) > t_975(31) > t_975(1000) > 1.959964
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="degrees of freedom"):
            t_975(bad)  # type: ignore[arg-type]


def test_interval_of_five_values() -> None:
    values = [0.61, 0.64, 0.58, 0.66, 0.63]
    found = mean_interval(values)
    assert found is not None
    mean, std = statistics.fmean(values), statistics.stdev(values)
    half = 2.776445 * std / math.sqrt(5)
    assert found == pytest.approx((mean - half, mean + half), abs=1e-7)
    assert mean_interval([0.5]) is None and mean_interval([]) is None
    assert mean_interval([0.2, 0.2, 0.2]) == pytest.approx((0.2, 0.2))
    assert "t(0.975, n - 1)" in INTERVAL_KIND


def test_interval_against_numpy_on_random_inputs() -> None:
    rng = random.Random(16)
    for _ in range(200):
        n = rng.randint(2, 60)
        values = [rng.gauss(0.7, 0.05) for _ in range(n)]
        array = np.array(values)
        mean, std = float(array.mean()), float(array.std(ddof=1))
        half = exact_t_975(n - 1) * std / math.sqrt(n)
        found = spread(values)
        assert found.mean == pytest.approx(mean, abs=1e-12)
        assert found.std == pytest.approx(std, rel=1e-9)
        assert (found.min, found.max) == (float(array.min()), float(array.max()))
        assert found.interval == pytest.approx((mean - half, mean + half), abs=1e-7)
        assert found.interval is not None and found.interval[0] <= mean <= found.interval[1]


def test_to_dict_keeps_its_keys_and_adds_the_interval_only_when_asked() -> None:
    found = spread([0.1, 0.2, 0.4])
    assert list(found.to_dict()) == ["n", "mean", "std", "min", "max", "range"]
    with_interval = found.to_dict(interval=True)
    assert list(with_interval) == ["n", "mean", "std", "min", "max", "range", "interval"]
    assert found.interval is not None
    assert with_interval["interval"] == [round(b, 6) for b in found.interval]
    assert spread([0.3]).to_dict(interval=True)["interval"] is None
    # the field has a default: a Spread made as before has no interval
    assert Spread(2, 0.5, 0.1, 0.4, 0.6).interval is None


def test_fold_table_rows_sorted_by_fold_and_seed() -> None:
    runs = [
        (1, 2, {"b": 0.5, "a": 0.12345678}),
        (0, 3, {"a": 0.2}),
        (1, 1, {"a": 0.3}),
        (0, 1, {"a": -1e-9}),
    ]
    table = fold_table(runs)
    assert [(row["fold"], row["seed"]) for row in table] == [(0, 1), (0, 3), (1, 1), (1, 2)]
    assert table[3] == {"fold": 1, "seed": 2, "metrics": {"a": 0.123457, "b": 0.5}}
    assert list(table[3]["metrics"]) == ["a", "b"]
    assert math.copysign(1.0, table[0]["metrics"]["a"]) == 1.0
    assert json.loads(json.dumps(table)) == table
    assert fold_table([]) == []
    with pytest.raises(ValueError, match="fold 0, seed 1 is in the runs more than once"):
        fold_table([(0, 1, {}), (0, 1, {"a": 1.0})])
    # with the seeds' order given, a fold's rows follow it
    ordered = fold_table(runs, seeds=(3, 2, 1))
    assert [(row["fold"], row["seed"]) for row in ordered] == [(0, 3), (0, 1), (1, 2), (1, 1)]
