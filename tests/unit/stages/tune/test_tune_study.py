"""The study logic with a fake, instant trial: sampling, per-epoch reports, pruning, failures,
the SQLite export and the small output files. No TensorFlow here: `run_trial` is replaced by a
function of the hyperparameters, so these tests take about a second.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pedigree.errors import PedigreeError
from stages.common.determinism import DeterminismRecord
from stages.common.training import Hyperparameters
from stages.train.__main__ import read_best_params
from stages.tune import study as study_module
from stages.tune.outputs import (
    TRIAL_FIELDS,
    best_params_document,
    write_best_params,
    write_trials_csv,
)
from stages.tune.params import TuneParams
from stages.tune.study import STUDY_NAME, StudyOutcome, export_study, run_study
from stages.tune.trial import EpochReport, TrialData, TrialResult

RECORD = DeterminismRecord(7, "0", True, 2, 1, "tf", "keras", "default")


def tune_params(**changes: Any) -> TuneParams:
    data: dict[str, Any] = {
        "trials": 8,
        "epochs": 3,
        "seed": 5,
        "random_trials": 3,
        "search_space": {
            "learning_rate": {"low": 0.0001, "high": 0.1, "log": True},
            "batch_size": [4, 8],
            "base_filters": [4, 8],
            "dropout": {"low": 0.0, "high": 0.5},
        },
        "pruner": {"startup_trials": 2, "warmup_epochs": 1},
    }
    data.update(changes)
    return TuneParams.model_validate(data)


class FakeTrials:
    """Stands in for run_trial: loss falls each epoch and is lowest near lr 0.01, dropout 0."""

    def __init__(self, nan_when: Any = lambda hp: False) -> None:
        self.calls: list[tuple[Hyperparameters, int, int]] = []
        self.reported: dict[int, list[int]] = {}
        self.nan_when = nan_when

    def __call__(
        self, data: Any, hp: Hyperparameters, seed: int, epochs: int, report: EpochReport
    ) -> TrialResult:
        self.calls.append((hp, seed, epochs))
        base = abs(math.log10(hp.learning_rate) + 2) + hp.dropout + hp.base_filters / 100
        losses: list[float] = []
        stopped = False
        for epoch in range(epochs):
            loss = math.nan if self.nan_when(hp) else base + 1.0 / (epoch + 1)
            losses.append(loss)
            if not math.isfinite(loss):
                break
            self.reported.setdefault(seed, []).append(epoch)
            if not report(epoch, loss):
                stopped = True
                break
        return TrialResult(tuple(losses), stopped, 0.0)


def run(
    tmp_path: Path, params: TuneParams, fake: FakeTrials, name: str = "work.sqlite"
) -> StudyOutcome:
    lines: list[str] = []
    outcome = run_study(params, _no_data(), tmp_path / name, seed=100, log=lines.append)
    assert len(lines) == params.trials
    assert all(line.startswith("tune: trial ") for line in lines)
    return outcome


def _no_data() -> TrialData:
    return TrialData(train=None, validation=None, stats={}, model=None, data_seed=0)  # type: ignore[arg-type]


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeTrials:
    trials = FakeTrials()
    monkeypatch.setattr(study_module, "run_trial", trials)
    return trials


def test_trials_run_in_order_with_seeds_and_a_report_every_epoch(
    tmp_path: Path, fake: FakeTrials
) -> None:
    params = tune_params()
    outcome = run(tmp_path, params, fake)
    assert [seed for _, seed, _ in fake.calls] == [100 + n for n in range(params.trials)]
    rows = {row.number: row for row in outcome.rows}
    assert sorted(rows) == list(range(params.trials))
    for row in outcome.rows:
        # Every epoch that ran was reported, starting at epoch 0, in order.
        assert fake.reported[100 + row.number] == list(range(row.epochs))
        if row.state == "complete":
            assert row.epochs == params.epochs
    counts = outcome.counts()
    assert counts["complete"] + counts["pruned"] == params.trials and counts["fail"] == 0
    assert counts["pruned"] >= 1  # the fake's spread of losses is wide enough to prune some
    complete = [row for row in outcome.rows if row.state == "complete"]
    best = min(complete, key=lambda row: row.value or math.inf)
    assert (outcome.best_number, outcome.best_value) == (best.number, best.value)
    assert outcome.best_params.model_dump() == best.params


def test_pruned_trials_stop_early_and_only_after_warmup_and_startup(
    tmp_path: Path, fake: FakeTrials
) -> None:
    outcome = run(tmp_path, tune_params(pruner={"startup_trials": 2, "warmup_epochs": 1}), fake)
    pruned = [row for row in outcome.rows if row.state == "pruned"]
    assert pruned, "expected the median pruner to stop at least one trial"
    for row in pruned:
        assert row.number >= 2  # startup trials are never pruned
        assert row.epochs >= 2  # epoch 0 is warm-up: the earliest prune is after epoch 1
        assert row.value is not None  # a pruned trial keeps its last reported loss


def test_same_seed_same_study_and_the_sampler_seed_matters(
    tmp_path: Path, fake: FakeTrials
) -> None:
    first = run(tmp_path, tune_params(), fake, "a.sqlite")
    second = run(tmp_path, tune_params(), fake, "b.sqlite")
    other = run(tmp_path, tune_params(seed=6), fake, "c.sqlite")
    assert first.rows == second.rows
    assert [r.params for r in other.rows] != [r.params for r in first.rows]


def test_suggestions_stay_inside_the_search_space(tmp_path: Path, fake: FakeTrials) -> None:
    params = tune_params(trials=10)
    space = params.search_space
    run(tmp_path, params, fake)
    for hp, _, _ in fake.calls:
        assert space.learning_rate.low <= hp.learning_rate <= space.learning_rate.high
        assert space.dropout.low <= hp.dropout <= space.dropout.high
        assert hp.batch_size in space.batch_size and hp.base_filters in space.base_filters


def test_a_diverged_trial_fails_and_is_never_best(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeTrials(nan_when=lambda hp: hp.learning_rate > 0.003)
    monkeypatch.setattr(study_module, "run_trial", fake)
    outcome = run(tmp_path, tune_params(), fake)
    failed = [row for row in outcome.rows if row.state == "fail"]
    assert failed and all(row.value is None for row in failed)
    assert outcome.best_params.learning_rate <= 0.003


def test_no_completed_trial_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(study_module, "run_trial", FakeTrials(nan_when=lambda hp: True))
    with pytest.raises(PedigreeError, match=r"no trial completed \(2 trials: fail 0, fail 1\)"):
        run_study(
            tune_params(trials=2, random_trials=2),
            _no_data(),
            tmp_path / "w.sqlite",
            0,
            lambda line: None,
        )


def _open_files() -> set[str]:
    folder = Path("/proc/self/fd")
    if not folder.is_dir():
        pytest.skip("needs /proc to list open files")
    names = set()
    for fd in os.listdir(folder):
        try:
            names.add(os.readlink(folder / fd))
        except OSError:
            continue
    return names


def test_export_blanks_wall_clock_columns_and_closes_everything(
    tmp_path: Path, fake: FakeTrials
) -> None:
    work, final = tmp_path / "work.sqlite", tmp_path / "study.sqlite"
    run(tmp_path, tune_params(trials=4), fake)
    assert not any(str(work) in name for name in _open_files())  # run_study closed its engine
    blanked = export_study(work, final)
    assert set(blanked) >= {
        "trials.datetime_start",
        "trials.datetime_complete",
        "trial_heartbeats.heartbeat",
    }
    assert not work.exists() and final.is_file()
    assert not any(str(final) in name for name in _open_files())
    with sqlite3.connect(f"file:{final}?mode=ro", uri=True) as con:
        assert con.execute("SELECT study_name FROM studies").fetchall() == [(STUDY_NAME,)]
        rows = con.execute(
            "SELECT number, datetime_start, datetime_complete FROM trials ORDER BY number"
        ).fetchall()
        assert rows == [(n, None, None) for n in range(4)]
        assert con.execute("SELECT COUNT(*) FROM trial_heartbeats").fetchone() == (0,)
    con.close()
    # Optuna can still load the exported study.
    import optuna

    storage = optuna.storages.RDBStorage(f"sqlite:///{final}")
    try:
        loaded = optuna.load_study(study_name=STUDY_NAME, storage=storage)
        assert len(loaded.trials) == 4
    finally:
        storage.engine.dispose()


def test_two_exports_of_the_same_study_are_byte_identical(tmp_path: Path, fake: FakeTrials) -> None:
    outputs = []
    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        run(folder, tune_params(trials=4), fake)
        export_study(folder / "work.sqlite", folder / "study.sqlite")
        outputs.append((folder / "study.sqlite").read_bytes())
    assert outputs[0] == outputs[1]


def test_output_files_are_what_train_reads_and_byte_stable(
    tmp_path: Path, fake: FakeTrials
) -> None:
    params = tune_params(trials=5)
    outcome = run(tmp_path, params, fake)
    write_trials_csv(tmp_path / "trials.csv", outcome.rows)
    write_best_params(tmp_path / "best_params.json", outcome, params, RECORD)
    assert read_best_params(tmp_path / "best_params.json") == outcome.best_params
    document = json.loads((tmp_path / "best_params.json").read_text())
    assert document == json.loads(json.dumps(best_params_document(outcome, params, RECORD)))
    assert document["trials"] == {
        "complete": outcome.counts()["complete"],
        "pruned": outcome.counts()["pruned"],
        "failed": 0,
    }
    assert (document["study"], document["trial"], document["value"]) == (
        "study.sqlite",
        outcome.best_number,
        outcome.best_value,
    )
    assert document["sampler"] == {"name": "TPESampler", "seed": 5, "n_startup_trials": 3}
    assert document["pruner"]["n_warmup_steps"] == 1 and document["determinism"]["seed"] == 7
    assert isinstance(document["params"]["learning_rate"], float) and isinstance(
        document["params"]["batch_size"], int
    )
    with (tmp_path / "trials.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == TRIAL_FIELDS
    assert [int(r["number"]) for r in rows] == list(range(5))
    for row, trial in zip(rows, outcome.rows, strict=True):
        assert float(row["value"]) == trial.value  # repr round-trips exactly
        assert float(row["learning_rate"]) == trial.params["learning_rate"]
    first = (tmp_path / "trials.csv").read_bytes(), (tmp_path / "best_params.json").read_bytes()
    write_trials_csv(tmp_path / "trials.csv", tuple(reversed(outcome.rows)))  # order-proof
    write_best_params(tmp_path / "best_params.json", outcome, params, RECORD)
    assert (
        (tmp_path / "trials.csv").read_bytes(),
        (tmp_path / "best_params.json").read_bytes(),
    ) == first
