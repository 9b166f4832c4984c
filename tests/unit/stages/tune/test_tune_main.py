"""The tune stage end to end: outputs, determinism across processes, and split isolation.

Two real runs go in parallel subprocesses through the stage launcher (which fixes
PYTHONHASHSEED, as `pedigree run` does): one on a copy of the tiny project, and one on a copy
whose calibration split was deleted and whose test split was replaced by garbage. Their outputs
are byte-identical, which shows both that separate processes give the same study and that tune
never opens either held-out split.
Bad-input tests run `main()` in this process: they fail before TensorFlow starts.
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from pedigree.errors import ParamsError, SourceError
from stages.common.data import SplitAccessError
from stages.train.__main__ import read_best_params
from stages.tune import inputs as inputs_module
from stages.tune.__main__ import main
from stages.tune.inputs import split_reader
from tests.unit.stages.tune.conftest import OUTPUT, copy_project, start_tune, write_tune_params

OUTPUTS = {"best_params.json", "study.sqlite", "trials.csv"}
RUN_TIMEOUT = 400  # seconds, for both runs together (they normally take ~30 s)


@dataclass(frozen=True)
class Run:
    project: Path
    returncode: int
    output: str

    @property
    def out(self) -> Path:
        return self.project / "models" / "tune"

    def read(self, name: str) -> bytes:
        return (self.out / name).read_bytes()


def break_held_out_splits(prepared: Path) -> None:
    """Delete calibration; replace test's index and shards with bytes no reader could parse."""
    shutil.rmtree(prepared / "calibration")
    for path in (prepared / "test").iterdir():
        path.write_bytes(b"\x00not json, not a TFRecord\xff" * 4)


@pytest.fixture(scope="module")
def runs(tune_project: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    base = tmp_path_factory.mktemp("tune-runs")
    projects = {name: copy_project(tune_project, base / name) for name in ("first", "no_held_out")}
    break_held_out_splits(projects["no_held_out"] / "data" / "prepared")
    started = {name: start_tune(project) for name, project in projects.items()}
    result: dict[str, Run] = {}
    try:
        for name, process in started.items():
            code = process.wait(timeout=RUN_TIMEOUT)
            output = (projects[name] / OUTPUT).read_text(errors="replace")
            result[name] = Run(projects[name], code, output)
    except subprocess.TimeoutExpired:
        for process in started.values():
            process.kill()
        raise
    return result


def test_the_stage_writes_its_three_outputs_atomically(runs: dict[str, Run]) -> None:
    run = runs["first"]
    assert run.returncode == 0, run.output
    assert {p.name for p in run.out.iterdir()} == OUTPUTS
    assert [p.name for p in run.out.parent.iterdir()] == ["tune"]  # no scratch folder left
    assert "tune: best trial " in run.output and "Traceback" not in run.output
    assert "ran out of data" not in run.output  # Keras's end-of-epoch noise is filtered


def test_best_params_are_the_best_completed_trial_and_train_can_read_them(
    runs: dict[str, Run],
) -> None:
    run = runs["first"]
    document = json.loads(run.read("best_params.json"))
    with (run.out / "trials.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["number"]) for r in rows] == [0, 1, 2]
    complete = [r for r in rows if r["state"] == "complete"]
    best = min(complete, key=lambda r: float(r["value"]))
    assert document["trial"] == int(best["number"]) and document["value"] == float(best["value"])
    hp = read_best_params(run.out / "best_params.json")
    assert hp.model_dump() == {
        "learning_rate": float(best["learning_rate"]),
        "batch_size": int(best["batch_size"]),
        "base_filters": int(best["base_filters"]),
        "dropout": float(best["dropout"]),
    }
    assert document["trials"]["complete"] == len(complete)
    assert (
        document["trials"]["complete"] + document["trials"]["pruned"] + document["trials"]["failed"]
        == 3
    )
    assert (
        document["determinism"]["python_hash_seed"] == "0"
        and document["determinism"]["op_determinism"] is True
    )
    assert document["study"] == "study.sqlite" and document["sampler"]["seed"] == 99
    for row in rows:  # every epoch reported: a completed trial has one loss per epoch
        assert row["state"] != "complete" or row["epochs"] == "2"


def test_the_study_database_holds_every_trial_and_no_wall_clock_times(runs: dict[str, Run]) -> None:
    path = runs["first"].out / "study.sqlite"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        trials = con.execute(
            "SELECT number, state, datetime_start, datetime_complete FROM trials"
        ).fetchall()
        steps = con.execute("SELECT COUNT(*) FROM trial_intermediate_values").fetchone()[0]
    con.close()
    assert sorted(t[0] for t in trials) == [0, 1, 2]
    assert all(t[2] is None and t[3] is None for t in trials)
    assert steps >= 3  # at least one validation loss per trial


def test_two_processes_give_identical_outputs_without_opening_held_out_data(
    runs: dict[str, Run],
) -> None:
    first, second = runs["first"], runs["no_held_out"]
    assert first.returncode == second.returncode == 0, second.output
    assert not (second.project / "data" / "prepared" / "calibration").exists()
    # Same train and validation data, so the very same study, byte for byte, from another
    # process: the held-out splits (gone, or garbage) played no part.
    assert (
        json.loads(first.read("best_params.json"))["params"]
        == json.loads(second.read("best_params.json"))["params"]
    )
    for name in sorted(OUTPUTS):
        assert second.read(name) == first.read(name), name


def test_the_reader_tune_builds_allows_train_and_validation_only(tune_project: Path) -> None:
    reader = split_reader(tune_project / "data" / "prepared")
    assert reader.allowed == {"train", "validation"}
    for split in ("calibration", "test"):
        with pytest.raises(SplitAccessError, match=rf"stage 'tune' may not read the {split} split"):
            reader.files(split)


def test_tune_asking_for_the_test_split_is_refused(
    tune_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tune_project)
    monkeypatch.setattr(inputs_module, "READS", ("train", "test"))
    with pytest.raises(
        SplitAccessError,
        match=r"stage 'tune' may not read the test split \(allowed: train, validation\)",
    ):
        main(["--out", str(tune_project / "never")])
    assert not (tune_project / "never").exists()


def test_missing_prepared_folder_is_a_source_error_with_a_hint(tmp_path: Path) -> None:
    params = write_tune_params(tmp_path / "params.yaml")
    with pytest.raises(
        SourceError,
        match=r"data/prepared does not exist or is not a folder\n  hint: run the transform stage first",
    ):
        main(
            [
                "--params",
                str(params),
                "--prepared",
                str(tmp_path / "data" / "prepared"),
                "--out",
                str(tmp_path / "out"),
            ]
        )
    assert not (tmp_path / "out").exists()


def test_missing_stats_is_a_source_error_with_a_hint(tune_project: Path, tmp_path: Path) -> None:
    project = copy_project(tune_project, tmp_path / "project")
    (project / "data" / "prepared" / "stats.json").unlink()
    with pytest.raises(
        SourceError, match=r"stats\.json is missing\n  hint: run the transform stage first"
    ):
        main(
            [
                "--params",
                str(project / "params.yaml"),
                "--prepared",
                str(project / "data" / "prepared"),
            ]
        )


def test_bad_params_are_located_by_line_and_key(tune_project: Path, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    text = (
        (tune_project / "params.yaml")
        .read_text()
        .replace("  batch_size: [2, 4]", "  batch_size: [2, 0]")
    )
    params.write_text(text)
    line = text.splitlines().index("    batch_size: [2, 0]") + 1
    with pytest.raises(
        ParamsError,
        match=rf"params\.yaml:{line} \[tune\.search_space\.batch_size\]: batch_size value\(s\) \[0\] out of range",
    ):
        main(["--params", str(params), "--prepared", str(tune_project / "data" / "prepared")])
