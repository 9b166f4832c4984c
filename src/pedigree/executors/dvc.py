"""The DVC adapter: reproduce the pipeline and ask what is stale, in-process.

DVC does the real work (hashing, skipping, run-cache, dvc.lock); this adapter only observes it,
so that `pedigree run` can say which stage runs, which is skipped and for how long, and turns
DVC's exceptions into pedigree's. Running in-process (not `dvc repro` in a subprocess) keeps a
no-op `pedigree run` as cheap as a no-op `dvc repro`. What it needs of DVC beyond the public
API (the per-stage hook, two log lines, the exit status) is confined to
`pedigree.executors.dvc_private`.

Every DVC call runs from the project root (DVC resolves paths against the working directory),
so the answers are the same from any folder. A stage that fails keeps its previous outputs
(see `pedigree.executors.restore`), and its error shows this run's log, never an older one.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pedigree.envvars import OUTPUT_MODE_ENV
from pedigree.errors import InterruptedRunError, ProjectError, StageFailedError, ToolError
from pedigree.executors import dvc_private
from pedigree.executors.restore import OutputKeeper, RestoreNote, StageOut, restore_outputs
from pedigree.redact import redact_text
from pedigree.stagerun import stage_log

Outcome = Literal["ran", "restored", "skipped", "would-run"]
LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class ReproResult:
    """Every stage's outcome, DVC's warnings, and the files git should now track."""

    stages: tuple[StageResult, ...]
    warnings: tuple[str, ...]
    git_add: str | None


@dataclass(frozen=True)
class StageResult:
    """What happened to one stage in a run."""

    stage: str
    outcome: Outcome
    seconds: float


class RunObserver(Protocol):
    """Receives progress as DVC works through the stages."""

    def stage_started(self, stage: str) -> None:
        """DVC is looking at `stage` (checking, then running it if stale)."""

    def stage_finished(self, result: StageResult) -> None:
        """`stage` is done: ran, restored from the run-cache, skipped or (dry run) would run."""


class _DvcLogTap(logging.Handler):
    """Collects the DVC log lines the adapter needs: run-cache restores and warnings."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.restored: set[str] = set()
        self.warnings: list[str] = []
        self.git_add: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        restored = dvc_private.restored_from_run_cache(record)
        hint = dvc_private.git_add_hint(record)
        if restored is not None:
            self.restored.add(restored)
        elif hint is not None:
            self.git_add = hint
        elif record.levelno >= logging.WARNING:
            # DVC repeats remote URLs in its warnings: keep no credential.
            self.warnings.append(redact_text(record.getMessage()))


@contextmanager
def _tapped_dvc_log() -> Iterator[_DvcLogTap]:
    log = logging.getLogger("dvc")
    tap = _DvcLogTap()
    old_level, old_propagate, old_handlers = log.level, log.propagate, list(log.handlers)
    # DVC installs console handlers when imported; its lines would interleave with ours.
    log.handlers = [tap]
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        yield tap
    finally:
        log.handlers = old_handlers
        log.setLevel(old_level)
        log.propagate = old_propagate


@contextmanager
def _stage_environment(quiet_stages: bool) -> Iterator[None]:
    """Environment DVC passes to stage commands for the length of a run."""
    saved = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    # `python -m pedigree.launch` in dvc.yaml must find this environment's interpreter.
    os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    if quiet_stages:
        os.environ[OUTPUT_MODE_ENV] = "log"
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _in_project(root: Path) -> Iterator[Path]:
    """Work from the project root for the length of a DVC call.

    DVC resolves targets, dvc.yaml and its own paths against the working directory, not the
    repository it was opened on: from a subfolder it would see no stages (or fail), so every
    DVC call runs from the root, and the caller's working directory comes back afterwards.
    """
    root = root.resolve()
    saved = os.getcwd()
    os.chdir(root)
    try:
        yield root
    finally:
        os.chdir(saved)


def _open_repo(root: Path, remote: str | None = None) -> Any:
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        # `remote` stands in for the default remote (core.remote) for this repo object only.
        return Repo(str(root), remote=remote)
    except NotDvcRepoError:
        raise ProjectError(
            f"{root} is not a DVC repository", "run `dvc init` in the project root (once)"
        ) from None


LogMark = tuple[int, int, int, int] | None


def _log_mark(root: Path, stage: str) -> LogMark:
    """What identifies the stage's log file as it is now (None: there is none).

    The launcher truncates and rewrites the log when the stage starts, which changes its
    modification time; an unchanged mark after a failure means this run never started it.
    """
    try:
        info = stage_log(root, stage).stat()
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _log_tail(root: Path, stage: str, before: LogMark) -> str | None:
    """The last lines of the stage's log when this run wrote it, else None (it never started:
    the log, if any, is an older run's)."""
    now = _log_mark(root, stage)
    if now is None or now == before:
        return None
    path = stage_log(root, stage)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])


def reproduce(
    root: Path,
    targets: list[str] | None,
    force: bool,
    dry: bool,
    observer: RunObserver,
    quiet_stages: bool = True,
    pull: bool = False,
    remote: str | None = None,
) -> ReproResult:
    """Run `dvc repro` in-process on `root` (optionally only `targets` and what they need).

    With `pull`, DVC first fetches the default remote's run-cache and pulls the outputs of the
    stages it restores from it (`dvc repro --pull`); `remote` names another remote to use.

    A stage that fails or is interrupted leaves its previous outputs in place: DVC deletes them
    before running it, so they are restored from the DVC cache (and from a copy kept before the
    run for outputs DVC does not cache), and the error says what came back.

    Raises StageFailedError naming the stage (with this run's log tail, or DVC's reason when the
    stage never started), InterruptedRunError when a stage was stopped by Ctrl-C, ToolError for
    DVC failures outside any stage.
    """
    from dvc.exceptions import DvcException
    from dvc.lock import LockError

    results: list[StageResult] = []
    pending: set[str] = set()  # dry run: stages that would run, so downstream would too
    current: list[str] = []
    outs: dict[str, tuple[StageOut, ...]] = {}
    log_marks: dict[str, LogMark] = {}
    keeper = OutputKeeper(root.resolve())

    def observed(stage: Any, **kwargs: Any) -> Any:
        name = dvc_private.stage_name(stage)
        current[:] = [name]
        observer.stage_started(name)
        started = time.monotonic()
        upstream = dvc_private.upstream_names(kwargs)
        # DVC forces every stage of the plan; `--force` with targets forces only the targets.
        kwargs["force"] = force and (not targets or name in targets)
        if not dry:
            outs[name] = dvc_private.stage_outs(stage)
            log_marks[name] = _log_mark(root, name)
            keeper.keep(name, outs[name])
        # A stage downstream of one that would run would run too. DVC's own dry run would hash
        # its deps, which that stage has not written yet: in a fresh clone they are missing and
        # `dvc repro --dry` fails on them.
        ret = (
            stage
            if dry and pending & set(upstream)
            else dvc_private.reproduce_stage(stage, **kwargs)
        )
        keeper.discard(name)
        seconds = time.monotonic() - started
        if dry:
            outcome: Outcome = "would-run" if ret or pending & set(upstream) else "skipped"
            if outcome == "would-run":
                pending.add(name)
        elif ret is None:
            outcome = "skipped"
        else:
            outcome = "restored" if name in tap.restored else "ran"
        result = StageResult(name, outcome, seconds)
        results.append(result)
        observer.stage_finished(result)
        return ret

    def restored(stage: str) -> RestoreNote:
        if dry:
            return RestoreNote()
        try:
            # A fresh repo: the failed run's one may hold stage objects mid-update.
            fresh = _open_repo(root, remote)
            try:
                return restore_outputs(root, stage, outs.get(stage, ()), keeper, fresh)
            finally:
                fresh.close()
        except Exception as exc:  # noqa: BLE001 - the stage's own failure must still be reported
            return RestoreNote(error=f"{type(exc).__name__}: {exc}")

    failure: tuple[str, BaseException] | None = None
    with _in_project(root) as root, _tapped_dvc_log() as tap, _stage_environment(quiet_stages):
        repo = _open_repo(root, remote)
        try:
            dvc_private.reproduce(repo, targets, dry, pull, observed)
        except LockError as exc:
            raise ToolError(
                f"another pedigree or dvc command is using this project: {exc}",
                "wait for it to finish, then try again",
            ) from None
        except DvcException as exc:
            if not current:
                raise ToolError(f"dvc: {exc}") from None
            failure = (current[0], exc)
        except KeyboardInterrupt as exc:
            if not current:
                raise
            failure = (current[0], exc)
        finally:
            repo.close()
        if failure is not None:
            stage, error = failure
            note = restored(stage)
            if isinstance(error, KeyboardInterrupt):
                clause = note.sentence()
                raise InterruptedRunError(
                    f"interrupted during stage '{stage}'" + (f"; {clause}" if clause else ""),
                    "run again to finish the pipeline",
                ) from None
            raise _stage_error(root, stage, error, log_marks.get(stage), note) from None
    return ReproResult(tuple(results), tuple(tap.warnings), tap.git_add)


def _stage_error(
    root: Path, stage: str, exc: BaseException, before: LogMark, note: RestoreNote
) -> StageFailedError | InterruptedRunError:
    """The error for a stage DVC could not run: interrupted, did not start, or failed."""
    status = dvc_private.exit_status(exc)
    restored = note.sentence()
    suffix = f"; {restored}" if restored else ""
    if status in (130, -2):
        return InterruptedRunError(
            f"interrupted during stage '{stage}': nothing half-written was kept{suffix}",
            "run again to finish the pipeline",
        )
    code = f" (exit code {status})" if status is not None else ""
    tail = _log_tail(root, stage, before)
    log = stage_log(root, stage).relative_to(root)
    if tail is None:
        # The launcher never wrote this run's log: any log there is an older run's, not this one.
        reason = str(exc.__cause__ or exc)
        older = f"; {log} is from an earlier run" if (root / log).is_file() else ""
        return StageFailedError(
            stage,
            f"stage '{stage}' did not start{code}: {reason}{suffix}",
            "",
            f"fix the cause DVC gives, then run again (this run wrote no log{older})",
        )
    cause = exc.__cause__ or exc
    message = f"stage '{stage}' failed" + (code if status is not None else f": {cause}")
    return StageFailedError(stage, message + suffix, tail, f"full log: {log}")


def status(root: Path) -> dict[str, list[Any]]:
    """DVC's status of every stage: {stage: [changes...]}, empty for up-to-date stages."""
    from dvc.exceptions import DvcException

    with _in_project(root) as root, _tapped_dvc_log():
        repo = _open_repo(root)
        try:
            return dict(repo.status())
        except DvcException as exc:
            raise ToolError(f"dvc status: {exc}") from None
        finally:
            repo.close()
