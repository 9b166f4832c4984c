"""Stage score: the model's metrics on the test split, reports/metrics.json.

The only stage that reads the test split (the spec's `heldOut` says so and `pedigree audit`
checks it). Metrics: accuracy at `score.threshold`, log loss, ROC AUC, and the row counts.

Run as `python -m stages.score --params params.yaml --splits data/splits --model models/fit
--out reports/metrics.json`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pedigree.stagekit import load_params, run_stage
from stages.common.table import read_table, sigmoid, standardize, write_json_atomically

from .params import Params

TABLE = "rows.csv"
DIGITS = 6
EPS = 1e-12


def roc_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Area under the ROC curve (ties count half); None when one class is absent."""
    positives, negatives = p[y == 1], p[y == 0]
    if len(positives) == 0 or len(negatives) == 0:
        return None
    wins = (positives[:, None] > negatives[None, :]).sum()
    ties = (positives[:, None] == negatives[None, :]).sum()
    return float((wins + 0.5 * ties) / (len(positives) * len(negatives)))


def main(argv: list[str]) -> int:
    """Score the test split."""
    parser = argparse.ArgumentParser(prog="stages.score")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--splits", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params("score", Params, args.params)
    stats = json.loads((args.splits / "stats.json").read_text(encoding="utf-8"))
    model = json.loads((args.model / "model.json").read_text(encoding="utf-8"))
    test = read_table(args.splits / "test" / TABLE)
    p = sigmoid(standardize(test.x, stats) @ np.array(model["weights"]) + model["bias"])
    clipped = np.clip(p, EPS, 1 - EPS)
    loss = -np.mean(test.y * np.log(clipped) + (1 - test.y) * np.log(1 - clipped))
    auc = roc_auc(test.y, p)
    metrics = {
        "split": "test",
        "rows": int(len(test.y)),
        "customers": len(set(test.groups)),
        "accuracy": round(float(np.mean((p >= params.threshold) == test.y)), DIGITS),
        "log_loss": round(float(loss), DIGITS),
        "roc_auc": None if auc is None else round(auc, DIGITS),
    }
    write_json_atomically(args.out, metrics)
    print(f"score: accuracy {metrics['accuracy']}, ROC AUC {metrics['roc_auc']} on test")
    return 0


if __name__ == "__main__":
    run_stage(main)
