"""Re-running one stage in a scratch workspace, as `dvc repro` would have run it.

A stage that appends to a log it reads (release and the model registry) must find in it the
decision it recorded: when the re-run adds files to the log, the log lacked that decision and the
stage is reported as not reproduced, with the files it added.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pedigree.envvars import OUTPUT_MODE_ENV as OUTPUT_MODE
from pedigree.lineage import store
from pedigree.lineage.hashing import Ignore, content_hash
from pedigree.lineage.record import LineageRecord
from pedigree.stagerun import stage_log
from pedigree.verify.compare import OutputCheck, compare_outputs
from pedigree.verify.envdiff import Difference, differences
from pedigree.verify.workspace import Locked, LockedStage, Placed, build, command

LOG_TAIL = 15


@dataclass(frozen=True)
class NotReplayed:
    """Why a stage could not be re-run at all (e.g. a recorded input is gone)."""

    message: str
    hint: str | None
    outputs: tuple[Locked, ...]  # what dvc.lock records, none of it checked


@dataclass(frozen=True)
class StageVerification:
    """The outcome of re-running one stage."""

    stage: str
    checks: tuple[OutputCheck, ...]
    exit_code: int
    seconds: float
    inputs: tuple[Placed, ...] = ()
    differences: tuple[Difference, ...] = ()
    recorded_env_known: bool = True  # False: no lineage record of the recorded run
    log_tail: tuple[str, ...] = ()
    scratch: str | None = None  # kept on request (--keep)
    notes: tuple[str, ...] = field(default_factory=tuple)
    not_replayed: NotReplayed | None = None  # set: the stage could not be re-run

    @property
    def identical(self) -> bool:
        return (
            self.not_replayed is None
            and self.exit_code == 0
            and bool(self.checks)
            and all(c.identical for c in self.checks)
        )

    @property
    def differs(self) -> bool:
        """Re-run, but not bit-identical (failed, or an output differs)."""
        return self.not_replayed is None and not self.identical


def not_replayed(
    stage: str, outputs: tuple[Locked, ...], message: str, hint: str | None
) -> StageVerification:
    """The verification of `stage`, which could not be re-run, and why."""
    return StageVerification(
        stage=stage,
        checks=(),
        exit_code=0,
        seconds=0.0,
        recorded_env_known=False,
        not_replayed=NotReplayed(message, hint, outputs),
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env[OUTPUT_MODE] = "log"  # the stage's output goes to its log in the scratch workspace
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def _recorded_record(root: Path, locked: LockedStage) -> LineageRecord | None:
    record = store.read_current(root, locked.name)
    outs = {o.path: o.md5 for o in locked.outs}
    return record if record is not None and store.outputs_match(record, outs) else None


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _log_checks(
    stage: str, scratch: Path, placed: list[Placed], before: dict[str, set[str]]
) -> list[OutputCheck]:
    """A failing check for every log the re-run added files to (it lacked the decision)."""
    checks = []
    for item in placed:
        if item.path not in before:
            continue
        added = sorted(_files(scratch / item.path) - before[item.path])
        if not added:
            continue
        found = content_hash(scratch / item.path, Ignore(scratch))
        why = (
            f"the log {item.path} lacks the decision this run recorded: the re-run decided "
            "anew and added the files below (check out the commit whose log holds it, or "
            "restore the log from git)"
        )
        details = (why, *(f"extra:   {name}" for name in added))
        checks.append(
            OutputCheck(stage, item.path, item.md5, None if found is None else found.md5, details)
        )
    return checks


def rerun(
    root: Path, cache: Path, locked: LockedStage, keep: bool, logs: frozenset[str] = frozenset()
) -> StageVerification:
    """Re-run `locked` from its recorded inputs in a fresh scratch folder and compare outputs.

    `logs`: deps that are append-only logs the stage writes to (see `pedigree.verify.workspace`).
    """
    scratch = Path(tempfile.mkdtemp(prefix=f"pedigree-verify-{locked.name}-"))
    started = time.monotonic()
    recorded = _recorded_record(root, locked)
    try:
        placed = build(root, cache, locked, scratch, logs)
        before = {p.path: _files(scratch / p.path) for p in placed if p.path in logs}
        done = subprocess.run(
            command(locked), cwd=scratch, env=_env(), capture_output=True, text=True, check=False
        )
        seconds = time.monotonic() - started
        log = stage_log(scratch, locked.name)
        tail: tuple[str, ...] = ()
        if done.returncode != 0:
            text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
            tail = tuple((text + done.stderr).strip().splitlines()[-LOG_TAIL:])
        checks = compare_outputs(locked.name, locked.outs, scratch, cache)
        checks += _log_checks(locked.name, scratch, placed, before)
        rerun_record = store.read_current(scratch, locked.name)
        diffs = (
            differences(recorded, rerun_record)
            if recorded is not None and rerun_record is not None
            else []
        )
        return StageVerification(
            stage=locked.name,
            checks=tuple(checks),
            exit_code=done.returncode,
            seconds=seconds,
            inputs=tuple(placed),
            differences=tuple(diffs),
            recorded_env_known=recorded is not None,
            log_tail=tail,
            scratch=str(scratch) if keep else None,
        )
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
