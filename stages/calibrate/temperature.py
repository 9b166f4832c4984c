"""Temperature scaling: one scalar T > 0 that divides the logits, fitted by minimum NLL.

Pure numpy/scipy (no TensorFlow), so it is tested on synthetic logits in milliseconds.

The search runs over u = log T rather than T, for three reasons:
  * the mean NLL is convex in 1/T (a log-sum-exp of terms linear in 1/T, minus a linear term),
    so it is unimodal in any monotone reparametrisation, log T included: the bounded Brent
    search (golden section + parabolic steps) then finds the global minimum in the bounds;
  * a tolerance on log T is a *relative* tolerance on T: T = 0.1 and T = 10 are found to the
    same number of significant digits, where an absolute tolerance on T would be coarse for
    small T and wastefully fine for large T;
  * bounds such as [0.05, 20] are nearly symmetric around T = 1 in log space (-3.0 .. +3.0), so
    the search spends its steps equally on sharpening and on softening the softmax.

The fitted T is rounded (so the written number is the one whose NLL is reported), then compared
with T = 1, the uncalibrated model: if it is not at least as good on the fitting data, T = 1 is
kept. Calibration can therefore never increase the NLL of the data it was fitted on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from stages.common.metrics import nll

XATOL_LOG_T = 1e-6  # log-space tolerance: T to a relative 1e-6, finer than the 6 written decimals
MAX_ITERATIONS = 500  # Brent needs ~20-40 evaluations here; this only guards a pathological case
DECIMALS = 6  # what calibration.json carries
AT_BOUND_REL = 1e-3  # a T this close (relatively) to a bound means the bound, not the data, won


@dataclass(frozen=True)
class TemperatureFit:
    """The outcome of a fit: the temperature to use and how it was chosen."""

    temperature: float  # what to use: the rounded optimum, or 1.0 when that was not better
    nll_before: float  # mean per-pixel NLL at T = 1
    nll_after: float  # mean per-pixel NLL at `temperature` (never above nll_before)
    found_temperature: float  # the optimiser's answer, rounded
    found_nll: float  # NLL at found_temperature
    kept_uncalibrated: bool  # True when found_nll > nll_before, so T = 1 was kept
    at_bound: bool  # the optimum sits on a bound: consider widening temperature_bounds
    bounds: tuple[float, float]
    evaluations: int
    iterations: int
    converged: bool

    def optimizer_info(self) -> dict[str, Any]:
        """A JSON-ready record of the search (for calibration.json)."""
        return {
            "function": "scipy.optimize.minimize_scalar(method='bounded')",
            "variable": "log T",
            "bounds": [self.bounds[0], self.bounds[1]],
            "xatol_log_t": XATOL_LOG_T,
            "found_temperature": self.found_temperature,
            "found_nll": round(self.found_nll, DECIMALS),
            "evaluations": self.evaluations,
            "iterations": self.iterations,
            "converged": self.converged,
            "at_bound": self.at_bound,
            "kept_uncalibrated": self.kept_uncalibrated,
            "decision": (
                "kept T = 1: the optimum did not lower the NLL of the calibration pixels"
                if self.kept_uncalibrated
                else "used the optimum: its NLL is not above that of T = 1"
            ),
        }


def check_inputs(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten to (N, C) logits and (N,) labels, refusing what would give a meaningless fit."""
    if logits.ndim < 2 or logits.shape[-1] < 2:
        raise ValueError(f"logits must have a class axis of size >= 2 (shape {logits.shape})")
    classes = logits.shape[-1]
    if labels.shape != logits.shape[:-1]:
        raise ValueError(f"labels {labels.shape} do not match logits {logits.shape[:-1]}")
    flat_logits = logits.reshape(-1, classes)
    flat_labels = labels.reshape(-1).astype(np.int64)
    if flat_logits.shape[0] == 0:
        raise ValueError("no pixels to calibrate on")
    if not np.isfinite(flat_logits).all():
        raise ValueError("logits contain NaN or infinity")
    if flat_labels.min() < 0 or flat_labels.max() >= classes:
        raise ValueError(f"labels must lie in 0..{classes - 1}")
    return flat_logits, flat_labels


def fit_temperature(
    logits: np.ndarray,
    labels: np.ndarray,
    bounds: tuple[float, float],
    xatol: float = XATOL_LOG_T,
) -> TemperatureFit:
    """Find T in `bounds` minimising mean NLL of softmax(logits / T); never worse than T = 1.

    `logits` is (..., C), `labels` the matching integer array. `bounds` need not contain 1 (the
    stage's params insist it does); either way T = 1 is kept when the optimum is not better.
    """
    low, high = float(bounds[0]), float(bounds[1])
    if not 0 < low < high:
        raise ValueError(f"bounds must satisfy 0 < low < high (got {bounds})")
    flat_logits, flat_labels = check_inputs(logits, labels)

    def objective(log_t: float) -> float:
        return nll(flat_logits, flat_labels, math.exp(log_t))

    result = minimize_scalar(
        objective,
        bounds=(math.log(low), math.log(high)),
        method="bounded",
        options={"xatol": xatol, "maxiter": MAX_ITERATIONS},
    )
    # Round first and re-evaluate, so the NLL reported is exactly that of the written T.
    found = round(min(max(math.exp(float(result.x)), low), high), DECIMALS)
    found_nll = nll(flat_logits, flat_labels, found)
    before = nll(flat_logits, flat_labels, 1.0)
    # `not <=` rather than `>`: a NaN NLL also falls back to the uncalibrated model.
    keep_identity = not found_nll <= before
    return TemperatureFit(
        temperature=1.0 if keep_identity else found,
        nll_before=before,
        nll_after=before if keep_identity else found_nll,
        found_temperature=found,
        found_nll=found_nll,
        kept_uncalibrated=keep_identity,
        at_bound=found <= low * (1 + AT_BOUND_REL) or found >= high * (1 - AT_BOUND_REL),
        bounds=(low, high),
        evaluations=int(getattr(result, "nfev", 0)),
        iterations=int(getattr(result, "nit", 0)),
        converged=bool(result.success),
    )
