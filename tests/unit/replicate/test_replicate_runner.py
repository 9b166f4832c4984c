"""Running the runs of a replicate, one after another or side by side (`--jobs`), with the
one-line stage of test_replicate_workspace standing in for a real one."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pedigree.errors import StageFailedError
from pedigree.replicate.foldruns import Run
from pedigree.replicate.runner import StageOutcome, check_jobs, execute
from pedigree.replicate.upstream import ReplicateError
from pedigree.replicate.workspace import RunSetup
from tests.unit.replicate.test_replicate_workspace import FAILING, make_plan, make_root


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def stage_finished(self, run: Run, result: StageOutcome) -> None:
        self.seen.append((run.name, result.stage, result.outcome))


def _runs(*seeds: int) -> list[tuple[Run, RunSetup]]:
    return [(Run(s), RunSetup(Run(s).name)) for s in seeds]


def test_parallel_runs_give_what_sequential_runs_give(tmp_path: Path) -> None:
    one = make_root(tmp_path / "one")
    two = make_root(tmp_path / "two")
    recorder = Recorder()
    sequential = execute(make_plan(one), _runs(1, 2, 3), False, 1, recorder)
    parallel = execute(make_plan(two), _runs(1, 2, 3), False, 3, None)
    for a, b in zip(sequential, parallel, strict=True):
        assert (a.seed, a.fold, [s.outcome for s in a.stages]) == (b.seed, b.fold, ["ran"])
        out = "models/out.txt"
        assert (a.workspace / out).read_text() == (b.workspace / out).read_text()
        assert (a.workspace / out).read_text() == f"data-{a.seed}"
    assert sorted(recorder.seen) == [(f"seed-{s}", "train", "ran") for s in (1, 2, 3)]
    # again: every run is reused, in parallel too
    again = execute(make_plan(two), _runs(1, 2, 3), False, 2, None)
    assert all(o.reused for o in again)


def test_a_run_setup_sets_params_and_writes_files(tmp_path: Path) -> None:
    root = make_root(tmp_path / "p")
    setup = RunSetup(
        "fold-1-seed-4", {"train.epochs": 9, "train.extra.x": 1}, {"folds/a.json": "{}\n"}
    )
    [outcome] = execute(make_plan(root), [(Run(4, 1), setup)], False, 1, None)
    assert outcome.workspace.name == "fold-1-seed-4" and outcome.fold == 1
    params = (outcome.workspace / "params.yaml").read_text()
    assert "epochs: 9" in params and "seed: 4" in params and "x: 1" in params
    assert (outcome.workspace / "folds" / "a.json").read_text() == "{}\n"


def test_a_failing_run_stops_the_others_and_names_itself(tmp_path: Path) -> None:
    root = make_root(tmp_path / "p")
    plan = make_plan(root, FAILING)
    started = time.monotonic()
    with pytest.raises(StageFailedError, match=r"seed [12]: stage 'train' failed \(exit 3\)"):
        execute(plan, _runs(1, 2), False, 2, None)
    assert time.monotonic() - started < 60
    with pytest.raises(StageFailedError, match=r"fold 0 seed 5: stage 'train' failed"):
        execute(plan, [(Run(5, 0), RunSetup("fold-0-seed-5"))], False, 1, None)


@pytest.mark.parametrize("jobs", [0, 33, -1, True])
def test_jobs_must_be_a_small_whole_number(jobs: int) -> None:
    with pytest.raises(ReplicateError, match=r"--jobs: .* is not a number of parallel runs"):
        check_jobs(jobs)
    assert check_jobs(2) == 2


def test_reuse_only_reuses_current_runs_and_refuses_to_run_the_others(tmp_path: Path) -> None:
    root = make_root(tmp_path / "p")
    execute(make_plan(root), _runs(1), False, 1, None)
    [reused] = execute(make_plan(root), _runs(1), False, 1, None, reuse_only=True)
    assert [s.outcome for s in reused.stages] == ["reused"]
    # seed 2 never ran here: brought from nowhere, it is an error, not a run
    with pytest.raises(ReplicateError, match=r"seed 2: stage 'train' is not current in .*seed-2"):
        execute(make_plan(root), _runs(1, 2), False, 2, None, reuse_only=True)
    assert not (root / ".pedigree" / "replicate" / "seed-2" / "models" / "out.txt").exists()
