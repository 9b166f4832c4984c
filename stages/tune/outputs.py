"""tune's small output files: best_params.json (train reads it) and trials.csv (one row a trial).

Both are byte-stable: keys sorted, rows sorted by trial number, floats written with `repr` (the
shortest text that reads back to the same float), no timestamps or durations.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from stages.common.determinism import DeterminismRecord
from stages.tune.params import TuneParams
from stages.tune.study import PARAM_NAMES, StudyOutcome, TrialRow

BEST_PARAMS = "best_params.json"
TRIALS_CSV = "trials.csv"
STUDY_FILE = "study.sqlite"
TRIAL_FIELDS = ("number", "state", "value", "epochs", *PARAM_NAMES)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_trials_csv(path: Path, rows: tuple[TrialRow, ...]) -> None:
    """trials.csv: number, state, value, epochs, then the hyperparameters; sorted by number."""
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TRIAL_FIELDS)
        for row in sorted(rows, key=lambda r: r.number):
            values = [row.number, row.state, row.value, row.epochs]
            writer.writerow([_cell(v) for v in values + [row.params[n] for n in PARAM_NAMES]])


def best_params_document(
    outcome: StudyOutcome, params: TuneParams, determinism: DeterminismRecord
) -> dict[str, Any]:
    """The content of best_params.json: `params` is what train uses; the rest is lineage."""
    counts = outcome.counts()
    return {
        "params": {
            "learning_rate": float(outcome.best_params.learning_rate),
            "batch_size": int(outcome.best_params.batch_size),
            "base_filters": int(outcome.best_params.base_filters),
            "dropout": float(outcome.best_params.dropout),
        },
        "value": float(outcome.best_value),
        "trial": outcome.best_number,
        "trials": {
            "complete": counts["complete"],
            "pruned": counts["pruned"],
            "failed": counts["fail"],
        },
        "study": STUDY_FILE,
        "sampler": outcome.sampler,
        "pruner": outcome.pruner,
        "epochs": params.epochs,
        "max_train_samples": params.max_train_samples,
        "search_space": params.search_space.model_dump(mode="json"),
        "determinism": determinism.to_dict(),
    }


def write_best_params(
    path: Path, outcome: StudyOutcome, params: TuneParams, determinism: DeterminismRecord
) -> None:
    """best_params.json, sorted keys, two-space indent, newline-terminated."""
    document = best_params_document(outcome, params, determinism)
    Path(path).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
