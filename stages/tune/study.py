"""The Optuna study: TPE sampling, median pruning, sequential trials, and a clean SQLite export.

The study runs against a working SQLite file; `export_study` then blanks the wall-clock columns
Optuna stores (trial start/finish times, heartbeats) and writes the final `study.sqlite` with
`VACUUM INTO`, so two runs that made the same decisions produce the same database content, laid
out afresh with no free pages or journal leftovers.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pedigree.errors import PedigreeError
from stages.common.training import Hyperparameters
from stages.tune.params import PrunerParams, SearchSpace, TuneParams
from stages.tune.trial import TrialData, TrialResult, run_trial, trial_seed

STUDY_NAME = "tune"
PARAM_NAMES = ("learning_rate", "batch_size", "base_filters", "dropout")  # suggestion order
STATES = ("complete", "pruned", "fail")  # the states a finished sequential study can hold
Log = Callable[[str], None]


@dataclass(frozen=True)
class TrialRow:
    """One finished trial, as trials.csv lists it."""

    number: int
    state: str  # complete | pruned | fail
    value: float | None  # best validation loss; for a pruned trial, its last reported loss
    epochs: int  # epochs that reported a validation loss
    params: dict[str, Any]


@dataclass(frozen=True)
class StudyOutcome:
    """The study's result: the best trial, every trial, and how the search was configured."""

    best_number: int
    best_value: float
    best_params: Hyperparameters
    rows: tuple[TrialRow, ...]
    sampler: dict[str, Any]
    pruner: dict[str, Any]

    def counts(self) -> dict[str, int]:
        """Trials per final state (every state listed, zeros included)."""
        return {state: sum(1 for row in self.rows if row.state == state) for state in STATES}


def sampler_config(params: TuneParams) -> dict[str, Any]:
    """The sampler's settings, as recorded in best_params.json."""
    return {"name": "TPESampler", "seed": params.seed, "n_startup_trials": params.random_trials}


def pruner_config(params: PrunerParams) -> dict[str, Any]:
    """The pruner's settings, as recorded in best_params.json (steps are 0-based epochs)."""
    return {
        "name": "MedianPruner",
        "n_startup_trials": params.startup_trials,
        "n_warmup_steps": params.warmup_epochs,
        "interval_steps": 1,
    }


def suggest(trial: Any, space: SearchSpace) -> Hyperparameters:
    """Draw one trial's hyperparameters; the order is fixed so seeded sampling is repeatable."""
    return Hyperparameters(
        learning_rate=trial.suggest_float(
            "learning_rate",
            space.learning_rate.low,
            space.learning_rate.high,
            log=space.learning_rate.log,
        ),
        batch_size=trial.suggest_categorical("batch_size", list(space.batch_size)),
        base_filters=trial.suggest_categorical("base_filters", list(space.base_filters)),
        dropout=trial.suggest_float(
            "dropout", space.dropout.low, space.dropout.high, log=space.dropout.log
        ),
    )


def _row(trial: Any) -> TrialRow:
    value = trial.value if trial.value is not None and math.isfinite(trial.value) else None
    return TrialRow(
        number=trial.number,
        state=trial.state.name.lower(),
        value=None if value is None else float(value),
        epochs=len(trial.intermediate_values),
        params={name: trial.params.get(name) for name in PARAM_NAMES},
    )


def _describe(row: TrialRow, seconds: float | None) -> str:
    p = row.params
    value = "-" if row.value is None else f"{row.value:.4f}"
    took = "" if seconds is None else f" in {seconds:.1f}s"
    return (
        f"tune: trial {row.number} {row.state:<8} val_loss {value} after {row.epochs} epoch(s)"
        f"{took}  lr={p['learning_rate']:.2e} batch={p['batch_size']} "
        f"filters={p['base_filters']} dropout={p['dropout']:.3f}"
    )


def run_study(
    params: TuneParams, data: TrialData, database: Path, seed: int, log: Log = print
) -> StudyOutcome:
    """Run `params.trials` trials one after another, the study stored in SQLite at `database`.

    `seed` is the determinism seed: trial N trains with seed + N. The storage's connections are
    all closed on return (or on error), so the database file can be exported and renamed.
    """
    import optuna

    # Optuna's own per-trial INFO lines would duplicate ours.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(f"sqlite:///{Path(database).resolve()}")
    seconds: dict[int, float] = {}

    def objective(trial: optuna.Trial) -> float:
        hp = suggest(trial, params.search_space)

        def report(epoch: int, loss: float) -> bool:
            trial.report(loss, epoch)
            return not trial.should_prune()

        result: TrialResult = run_trial(
            data, hp, trial_seed(seed, trial.number), params.epochs, report
        )
        seconds[trial.number] = result.seconds
        if result.stopped:
            raise optuna.TrialPruned()
        return result.best  # NaN (diverged from the first epoch) marks the trial failed

    def announce(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        log(_describe(_row(trial), seconds.get(trial.number)))

    try:
        study = optuna.create_study(
            study_name=STUDY_NAME,
            storage=storage,
            direction="minimize",
            sampler=optuna.samplers.TPESampler(
                seed=params.seed, n_startup_trials=params.random_trials
            ),
            pruner=optuna.pruners.MedianPruner(
                n_startup_trials=params.pruner.startup_trials,
                n_warmup_steps=params.pruner.warmup_epochs,
                interval_steps=1,
            ),
        )
        # Sequential on purpose: parallel trials would finish in a timing-dependent order, and
        # TPE's next suggestion depends on which trials have finished.
        study.optimize(objective, n_trials=params.trials, n_jobs=1, callbacks=[announce])
        trials = study.get_trials(deepcopy=False)
    finally:
        storage.scoped_session.remove()
        storage.engine.dispose()
    rows = tuple(sorted((_row(t) for t in trials), key=lambda row: row.number))
    complete = [row for row in rows if row.state == "complete" and row.value is not None]
    if not complete:
        raise PedigreeError(
            f"no trial completed ({len(rows)} trials: "
            + ", ".join(f"{row.state} {row.number}" for row in rows)
            + ")",
            "every trial was pruned or diverged: lower the learning_rate range, raise "
            "tune.trials, or raise tune.pruner.startup_trials",
        )
    # Ties go to the earliest trial, the same choice Optuna's best_trial makes.
    best = min(complete, key=lambda row: (row.value, row.number))
    return StudyOutcome(
        best_number=best.number,
        best_value=float(best.value),  # type: ignore[arg-type]  # complete rows have values
        best_params=Hyperparameters.model_validate(best.params),
        rows=rows,
        sampler=sampler_config(params),
        pruner=pruner_config(params.pruner),
    )


def _datetime_columns(con: sqlite3.Connection) -> list[tuple[str, str, bool]]:
    """(table, column, NOT NULL) of every DATETIME/TIMESTAMP column in the database.

    Found from the schema rather than listed by hand, so a new wall-clock column in a later
    Optuna schema is blanked too.
    """
    found: list[tuple[str, str, bool]] = []
    tables = [row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for table in sorted(tables):
        for _cid, column, kind, notnull, _default, _pk in con.execute(
            f'PRAGMA table_info("{table}")'
        ):
            if any(word in (kind or "").upper() for word in ("DATE", "TIME")):
                found.append((table, column, bool(notnull)))
    return found


def export_study(database: Path, target: Path) -> list[str]:
    """Blank wall-clock data in `database`, write it compacted to `target`, delete `database`.

    Returns the blanked columns as "table.column" (a NOT NULL one has its rows deleted: the
    only such column, trial_heartbeats.heartbeat, is liveness data with no meaning afterwards).
    """
    database, target = Path(database), Path(target)
    con = sqlite3.connect(database)
    try:
        blanked: list[str] = []
        with con:  # one transaction: committed before VACUUM, which cannot run inside one
            for table, column, notnull in _datetime_columns(con):
                if notnull:
                    con.execute(f'DELETE FROM "{table}"')
                else:
                    con.execute(f'UPDATE "{table}" SET "{column}" = NULL')
                blanked.append(f"{table}.{column}")
        con.execute("VACUUM INTO ?", (str(target),))
    finally:
        con.close()
    for leftover in (
        database,
        *(database.with_name(database.name + s) for s in ("-journal", "-wal", "-shm")),
    ):
        leftover.unlink(missing_ok=True)
    return blanked
