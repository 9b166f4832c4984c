"""Stage fit: a logistic regression on the train split, its L2 strength chosen on validation.

Model selection reads the train and validation splits and the train statistics only, never
the test split (the spec's `modelSelection` says so and `pedigree audit` checks it). Training
is mini-batch gradient descent from a seeded start in a seeded order (`fit.seed`), so a run is
bit-identical on re-run and `pedigree replicate` can vary the seed to measure the spread.

Run as `python -m stages.fit --params params.yaml --splits data/splits --out models/fit`.
Writes model.json (weights, bias, the chosen L2) and selection.json (validation loss per L2).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from pedigree.stagekit import atomic_output, load_params, run_stage
from stages.common.table import dumps, read_table, sigmoid, standardize

from .params import Params

TABLE = "rows.csv"
EPS = 1e-12


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean binary cross-entropy."""
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def train(x: np.ndarray, y: np.ndarray, l2: float, params: Params) -> tuple[np.ndarray, float]:
    """Weights and bias after `epochs` of mini-batch gradient descent, seeded."""
    rng = np.random.default_rng(params.seed)
    weights = rng.normal(0.0, 0.1, x.shape[1])
    bias = 0.0
    for _ in range(params.epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), params.batch_size):
            batch = order[start : start + params.batch_size]
            error = sigmoid(x[batch] @ weights + bias) - y[batch]
            weights -= params.learning_rate * (x[batch].T @ error / len(batch) + l2 * weights)
            bias -= params.learning_rate * float(error.mean())
    return weights, bias


def main(argv: list[str]) -> int:
    """Fit one model per L2 candidate, keep the best on validation."""
    parser = argparse.ArgumentParser(prog="stages.fit")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--splits", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params("fit", Params, args.params)
    stats = json.loads((args.splits / "stats.json").read_text(encoding="utf-8"))
    fit, valid = (read_table(args.splits / name / TABLE) for name in ("train", "validation"))
    x_fit, x_valid = standardize(fit.x, stats), standardize(valid.x, stats)
    tried: list[dict[str, Any]] = []
    best: tuple[float, float, np.ndarray, float] | None = None
    for l2 in params.l2:
        weights, bias = train(x_fit, fit.y.astype(np.float64), l2, params)
        p = sigmoid(x_valid @ weights + bias)
        loss = log_loss(valid.y, p)
        accuracy = float(np.mean((p >= 0.5) == valid.y))
        tried.append({"l2": l2, "validation_log_loss": loss, "validation_accuracy": accuracy})
        if best is None or loss < best[0]:
            best = (loss, l2, weights, bias)
    assert best is not None  # params.l2 has at least one candidate
    model = {
        "kind": "logistic-regression",
        "features": list(fit.features),
        "weights": [float(w) for w in best[2]],
        "bias": best[3],
        "l2": best[1],
        "seed": params.seed,
    }
    with atomic_output(args.out) as out:
        (out / "model.json").write_text(dumps(model), encoding="utf-8")
        (out / "selection.json").write_text(dumps({"chosen": best[1], "tried": tried}))
    print(f"fit: l2 {best[1]} chosen (validation log loss {best[0]:.4f}, {len(fit.y)} rows)")
    return 0


if __name__ == "__main__":
    run_stage(main)
