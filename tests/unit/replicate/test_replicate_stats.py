"""The spread over seeds: flattening metrics.json and the per-metric statistics."""

from __future__ import annotations

import math
import statistics

import pytest

from pedigree.replicate.stats import STD_KIND, flatten_numbers, spread, spreads


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
