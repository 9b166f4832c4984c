"""`python -m stages.tune`: search hyperparameters with Optuna; write models/tune.

Reads the train and validation splits of data/prepared only (calibration and test are refused
by the split reader). Writes, all at once through `atomic_output`:
  study.sqlite       the Optuna study (wall-clock columns blanked, compacted)
  best_params.json   the best trial's hyperparameters (train reads `params`) and lineage
  trials.csv         one row per trial: number, state, value, epochs, hyperparameters
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pedigree.stagekit import atomic_output, load_params, run_stage
from stages.common.determinism import DeterminismParams, configure
from stages.common.training import ModelParams
from stages.tune.inputs import open_inputs
from stages.tune.outputs import (
    BEST_PARAMS,
    STUDY_FILE,
    TRIALS_CSV,
    write_best_params,
    write_trials_csv,
)
from stages.tune.params import TuneParams
from stages.tune.study import export_study, run_study
from stages.tune.trial import TrialData

# The study runs in this file inside the scratch folder; only its compacted copy is kept.
WORKING_DATABASE = ".study-working.sqlite"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stages.tune",
        description="Search the U-Net's hyperparameters with Optuna on train + validation.",
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file")
    parser.add_argument(
        "--prepared", type=Path, default=Path("data/prepared"), help="transform's output folder"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("models/tune"), help="folder to (re)create"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the stage; return 0 on success (errors are raised as PedigreeError)."""
    args = _parser().parse_args(argv)
    # Everything that can be checked without TensorFlow is checked first, so bad params or a
    # missing data/prepared fail in a second.
    tune = load_params("tune", TuneParams, args.params)
    model = load_params("model", ModelParams, args.params)
    determinism = load_params("determinism", DeterminismParams, args.params)
    inputs = open_inputs(args.prepared)
    record = configure(determinism)  # before any TensorFlow op
    data = TrialData(
        train=inputs.train,
        validation=inputs.validation,
        stats=inputs.stats,
        model=model,
        data_seed=determinism.seed,
        max_train_samples=tune.max_train_samples,
    )
    used = (
        inputs.train.count
        if tune.max_train_samples is None
        else min(inputs.train.count, tune.max_train_samples)
    )
    print(
        f"tune: {tune.trials} trials x up to {tune.epochs} epochs on {used} train / "
        f"{inputs.validation.count} validation samples (input {model.input_size}px)"
    )
    started = time.monotonic()
    with atomic_output(args.out) as scratch:
        outcome = run_study(tune, data, scratch / WORKING_DATABASE, determinism.seed)
        export_study(scratch / WORKING_DATABASE, scratch / STUDY_FILE)
        write_trials_csv(scratch / TRIALS_CSV, outcome.rows)
        write_best_params(scratch / BEST_PARAMS, outcome, tune, record)
    counts = outcome.counts()
    best = outcome.best_params
    print(
        f"tune: best trial {outcome.best_number} val_loss {outcome.best_value:.4f}: "
        f"learning_rate {best.learning_rate:.3e}, batch_size {best.batch_size}, "
        f"base_filters {best.base_filters}, dropout {best.dropout:.3f}"
    )
    print(
        f"tune: {counts['complete']} complete, {counts['pruned']} pruned, {counts['fail']} failed "
        f"in {time.monotonic() - started:.1f}s -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    run_stage(main)
