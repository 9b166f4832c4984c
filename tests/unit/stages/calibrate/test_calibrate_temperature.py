"""Temperature scaling on synthetic logits: it recovers a known temperature, never raises NLL."""

from __future__ import annotations

import numpy as np
import pytest

from stages.calibrate.temperature import fit_temperature
from stages.common.metrics import nll
from tests.unit.stages.calibrate.conftest import synthetic_labels

PIXELS = 200_000
BOUNDS = (0.05, 20.0)


@pytest.fixture(scope="module")
def logits() -> np.ndarray:
    """200k 'pixels' x 3 classes of spread-out logits (seeded)."""
    return np.random.default_rng(11).normal(scale=3.0, size=(PIXELS, 3)).astype(np.float32)


@pytest.mark.parametrize("true_t", [0.5, 2.0, 3.0])
def test_recovers_known_temperature(logits: np.ndarray, true_t: float) -> None:
    labels = synthetic_labels(logits, true_t, seed=int(true_t * 10))
    fit = fit_temperature(logits, labels, BOUNDS)
    assert abs(fit.temperature - true_t) / true_t < 0.05
    assert fit.converged and not fit.kept_uncalibrated and not fit.at_bound
    assert fit.nll_after < fit.nll_before
    assert fit.nll_after == nll(logits, labels, fit.temperature)  # reported NLL is the written T's


def test_over_confident_logits_lower_nll(logits: np.ndarray) -> None:
    # Labels from softmax(z / 2.5): the logits z are 2.5x too sharp.
    labels = synthetic_labels(logits, 2.5, seed=3)
    fit = fit_temperature(logits, labels, BOUNDS)
    assert fit.temperature > 1.0
    assert fit.nll_after <= fit.nll_before == nll(logits, labels, 1.0)


def test_accepts_image_shaped_inputs() -> None:
    z = np.random.default_rng(0).normal(scale=2.0, size=(4, 16, 16, 3)).astype(np.float32)
    labels = synthetic_labels(z.reshape(-1, 3), 1.5, seed=1).reshape(4, 16, 16)
    fit = fit_temperature(z, labels, BOUNDS)
    assert fit.nll_after <= fit.nll_before


def test_calibrated_model_keeps_temperature_near_one(logits: np.ndarray) -> None:
    labels = synthetic_labels(logits, 1.0, seed=5)
    fit = fit_temperature(logits, labels, BOUNDS)
    assert abs(fit.temperature - 1.0) < 0.05
    assert fit.nll_after <= fit.nll_before


def test_keeps_t_one_when_optimum_is_worse(logits: np.ndarray) -> None:
    # Calibrated at T = 1 but the search may only look at [3, 20]: its best point (T ~ 3) has a
    # higher NLL than T = 1, so the fitter must keep T = 1 and say so.
    labels = synthetic_labels(logits, 1.0, seed=5)
    fit = fit_temperature(logits, labels, (3.0, 20.0))
    assert fit.kept_uncalibrated and fit.at_bound
    assert fit.temperature == 1.0
    assert fit.found_nll > fit.nll_before == fit.nll_after
    assert fit.optimizer_info()["decision"].startswith("kept T = 1")


def test_deterministic(logits: np.ndarray) -> None:
    labels = synthetic_labels(logits, 2.0, seed=2)
    first = fit_temperature(logits, labels, BOUNDS)
    assert fit_temperature(logits, labels, BOUNDS) == first


@pytest.mark.parametrize(
    ("z", "y", "bounds", "match"),
    [
        (np.zeros((5, 3)), np.zeros(5, int), (2.0, 1.0), "0 < low < high"),
        (np.zeros((5, 3)), np.zeros(4, int), BOUNDS, "do not match"),
        (np.zeros((5, 3)), np.array([0, 1, 2, 3, 0]), BOUNDS, r"labels must lie in 0\.\.2"),
        (np.full((5, 3), np.nan), np.zeros(5, int), BOUNDS, "NaN or infinity"),
        (np.zeros((0, 3)), np.zeros(0, int), BOUNDS, "no pixels"),
        (np.zeros((5,)), np.zeros((), int), BOUNDS, "class axis"),
    ],
)
def test_refuses_bad_inputs(
    z: np.ndarray, y: np.ndarray, bounds: tuple[float, float], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        fit_temperature(z, y, bounds)
