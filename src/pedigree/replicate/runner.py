"""Running the replicate's runs: each run's stages in order in its workspace, the runs
themselves side by side on up to `jobs` workers.

Runs are independent (their own workspace, params and outputs), so they may run in parallel;
a stage's results do not depend on what else runs, because every model stage fixes its thread
counts and op determinism (pets: params determinism). Workspaces are built one after another
before anything runs: they share one copy of the upstream outputs. A run whose stage fails stops
there; the other runs finish their current stage and stop, and the first failure is raised.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from pedigree.replicate.foldruns import Run
from pedigree.replicate.isolation import shared_upstream
from pedigree.replicate.outcomes import RunObserver, SeedOutcome, StageOutcome
from pedigree.replicate.upstream import Plan, ReplicateError
from pedigree.replicate.workspace import RunSetup, build_workspace, run_stage, stage_is_current

MAX_JOBS = 32
JOBS_HINT = "give a whole number of parallel runs from 1 to 32: --jobs 2"


class _Stopped(ReplicateError):
    """A run stopped before its next stage because another run failed (never the cause)."""


def check_jobs(jobs: int) -> int:
    """The number of parallel runs; ReplicateError when it is out of range."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= MAX_JOBS:
        raise ReplicateError(f"--jobs: {jobs!r} is not a number of parallel runs", JOBS_HINT)
    return jobs


def execute(
    plan: Plan,
    runs: Sequence[tuple[Run, RunSetup]],
    force: bool,
    jobs: int,
    observer: RunObserver | None,
    reuse_only: bool = False,
) -> list[SeedOutcome]:
    """Build every run's workspace, then run its stages (reusing the current ones), on up to
    `jobs` workers; the outcomes in the order of `runs`. With `reuse_only` a stage that is not
    current is an error instead of a run (the runs came from elsewhere: a cluster's pods)."""
    shared = shared_upstream(plan)  # one copy of the upstream outputs for every run
    spaces = [build_workspace(plan, run.seed, setup, shared) for run, setup in runs]
    lock = threading.Lock()
    stop = threading.Event()

    def one(index: int) -> SeedOutcome:
        run, ws = runs[index][0], spaces[index]
        stages: list[StageOutcome] = []
        for stage in plan.stages:
            if stop.is_set():
                raise _Stopped(f"{run.label()}: stopped, another run failed")
            started = time.monotonic()
            if not force and stage_is_current(ws, stage):
                result = StageOutcome(stage, "reused", 0.0)
            elif reuse_only:
                stop.set()
                raise ReplicateError(
                    f"{run.label()}: stage '{stage}' is not current in {ws}: the run's results "
                    "do not match this checkout's inputs, code or params",
                    "run it where it was made (the same revision and data), or without the "
                    "reuse-only mode so that it runs here",
                )
            else:
                try:
                    run_stage(ws, stage, plan.commands[stage], run.label())
                except BaseException:
                    stop.set()
                    raise
                result = StageOutcome(stage, "ran", time.monotonic() - started)
            stages.append(result)
            if observer is not None:
                with lock:
                    observer.stage_finished(run, result)
        return SeedOutcome(run.seed, ws, tuple(stages), run.fold)

    if jobs == 1 or len(runs) == 1:
        return [one(i) for i in range(len(runs))]
    with ThreadPoolExecutor(max_workers=min(jobs, len(runs))) as pool:
        futures = [pool.submit(one, i) for i in range(len(runs))]
        errors = [f.exception() for f in futures]
    failed = [e for e in errors if e is not None and not isinstance(e, _Stopped)]
    if failed or any(errors):
        raise failed[0] if failed else next(e for e in errors if e is not None)
    return [f.result() for f in futures]
