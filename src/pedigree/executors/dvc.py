"""The DVC adapter: reproduce the pipeline and ask what is stale, in-process.

DVC does the real work (hashing, skipping, run-cache, dvc.lock); this adapter only observes it,
so that `pedigree run` can say which stage runs, which is skipped and for how long, and turns
DVC's exceptions into pedigree's. Running in-process (not `dvc repro` in a subprocess) keeps a
no-op `pedigree run` as cheap as a no-op `dvc repro`.
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

from pedigree.errors import InterruptedRunError, ProjectError, StageFailedError, ToolError
from pedigree.launch import stage_log

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
        if record.msg == "Stage '%s' is cached - skipping run, checking out outputs":
            self.restored.add(str(record.args[0]) if record.args else "")
        elif isinstance(record.msg, str) and "To track the changes with git" in record.msg:
            self.git_add = str(record.args[0]).strip() if record.args else None
        elif record.levelno >= logging.WARNING:
            self.warnings.append(record.getMessage())


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
        os.environ["PEDIGREE_STAGE_OUTPUT"] = "log"
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


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


def _log_tail(root: Path, stage: str) -> str:
    path = stage_log(root, stage)
    if not path.is_file():
        return ""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _exit_status(exc: BaseException | None) -> int | None:
    from dvc.stage.exceptions import StageCmdFailedError

    while exc is not None:
        if isinstance(exc, StageCmdFailedError):
            text = str(exc)
            marker = "exited with "
            if marker in text:
                try:
                    return int(text.rsplit(marker, 1)[1].strip())
                except ValueError:
                    return None
            return None
        exc = exc.__cause__
    return None


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

    Raises StageFailedError naming the stage (with its log tail), InterruptedRunError when a
    stage was stopped by Ctrl-C, ToolError for DVC failures outside any stage.
    """
    from dvc.exceptions import DvcException
    from dvc.lock import LockError
    from dvc.repo.reproduce import _reproduce_stage

    results: list[StageResult] = []
    pending: set[str] = set()  # dry run: stages that would run, so downstream would too
    current: list[str] = []

    def observed(stage: Any, **kwargs: Any) -> Any:
        name = stage.addressing
        current[:] = [name]
        observer.stage_started(name)
        started = time.monotonic()
        upstream = [s.addressing for s in kwargs.get("upstream") or []]
        # DVC forces every stage of the plan; `--force` with targets forces only the targets.
        kwargs["force"] = force and (not targets or name in targets)
        ret = _reproduce_stage(stage, **kwargs)
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

    with _tapped_dvc_log() as tap, _stage_environment(quiet_stages):
        repo = _open_repo(root, remote)
        try:
            repo.reproduce(targets=targets, force=False, dry=dry, repro_fn=observed, pull=pull)
        except LockError as exc:
            raise ToolError(
                f"another pedigree or dvc command is using this project: {exc}",
                "wait for it to finish, then try again",
            ) from None
        except DvcException as exc:
            stage = current[0] if current else None
            if stage is None:
                raise ToolError(f"dvc: {exc}") from None
            status = _exit_status(exc)
            if status in (130, -2):
                raise InterruptedRunError(
                    f"interrupted during stage '{stage}': nothing half-written was kept",
                    "run again to finish the pipeline",
                ) from None
            cause = exc.__cause__ or exc
            message = (
                f"stage '{stage}' failed (exit code {status})"
                if status is not None
                else f"stage '{stage}' failed: {cause}"
            )
            raise StageFailedError(
                stage,
                message,
                _log_tail(root, stage),
                f"full log: {stage_log(root, stage).relative_to(root)}",
            ) from None
        finally:
            repo.close()
    return ReproResult(tuple(results), tuple(tap.warnings), tap.git_add)


def status(root: Path) -> dict[str, list[Any]]:
    """DVC's status of every stage: {stage: [changes...]}, empty for up-to-date stages."""
    from dvc.exceptions import DvcException

    with _tapped_dvc_log():
        repo = _open_repo(root)
        try:
            return dict(repo.status())
        except DvcException as exc:
            raise ToolError(f"dvc status: {exc}") from None
        finally:
            repo.close()
