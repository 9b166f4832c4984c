"""How CLI results look: plain lines in logs and CI, a live timer on a terminal, or JSON.

rich is imported only when a terminal will show a live status: plain output needs nothing more
than click, and every command pays for what it imports at start-up.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from pedigree.errors import ExitCode, PedigreeError, ProblemsError, StageFailedError
from pedigree.executors.dvc import StageResult
from pedigree.redact import redact_text

OUTCOME_TEXT = {
    "ran": "ran",
    "restored": "restored from run-cache",
    "skipped": "up to date, skipped",
    "would-run": "would run",
}
# Exit status when the reader of our output went away (`pedigree status | head -1`): 128 + SIGPIPE,
# what any Unix tool killed by SIGPIPE reports, so `set -o pipefail` scripts see the usual value.
BROKEN_PIPE_EXIT = ExitCode.BROKEN_PIPE
OUTCOME_STYLE = {"ran": "green", "restored": "cyan", "skipped": None, "would-run": "yellow"}


def emit_json(data: Any) -> None:
    """Print `data` as stable JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def say(text: str, err: bool = False) -> None:
    """One plain line (on stderr with `err`), without credentials.

    Errors and warnings quote what they failed on, and a URL or an exception text may carry a
    password or token (a git remote, an S3 endpoint): the last line of defence is here.
    """
    click.echo(redact_text(text), err=err)


class RunProgress:
    """Shows each stage as it finishes; on a terminal also a live spinner with the stage name."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.terminal = sys.stdout.isatty()
        self.status: Any = None

    def stage_started(self, stage: str) -> None:
        if self.quiet or not self.terminal:
            return
        from rich.console import Console

        self.status = Console().status(
            f"[bold]{stage}[/]: checking, running if stale ...", spinner="dots"
        )
        self.status.start()

    def stage_finished(self, result: StageResult) -> None:
        self.close()
        if self.quiet:
            return
        took = f" in {result.seconds:.1f}s" if result.outcome in ("ran", "restored") else ""
        line = f"  {result.stage:<12} {OUTCOME_TEXT[result.outcome]}{took}"
        style = OUTCOME_STYLE[result.outcome]
        click.echo(click.style(line, fg=style) if self.terminal and style else line)

    def close(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


def time_table(results: Sequence[StageResult], wall: float) -> list[str]:
    """Where a run's time went: each stage's outcome, seconds and share of the stages' total,
    then that total and the whole command's wall time (pedigree and DVC included)."""
    total = sum(r.seconds for r in results)
    width = max([len("stage"), *(len(r.stage) for r in results)])
    lines = [f"{'stage':<{width}}  {'outcome':<23}  {'seconds':>8}  {'share':>5}"]
    for r in results:  # a skipped stage's seconds: the check that it is up to date
        share = f"{r.seconds / total:5.0%}" if total > 0 else f"{'-':>5}"
        lines.append(
            f"{r.stage:<{width}}  {OUTCOME_TEXT[r.outcome]:<23}  {r.seconds:8.1f}  {share}"
        )
    lines.append(f"{'stages':<{width}}  {'':<23}  {total:8.1f}  {'100%' if total else '-':>5}")
    lines.append(f"{'wall':<{width}}  {'(with pedigree and DVC)':<23}  {wall:8.1f}")
    return lines


def render_error(exc: PedigreeError) -> None:
    """One clear message (every problem for spec errors), the hint, and a stage's log tail."""
    if isinstance(exc, ProblemsError):
        count = len(exc.problems)
        say(f"error: {count} problem{'s' if count != 1 else ''} found:", err=True)
        for problem in exc.problems:
            say(f"  {problem.render()}", err=True)
        return
    say(f"error: {exc.message}", err=True)
    if isinstance(exc, StageFailedError) and exc.log_tail:
        say(f"--- last lines of the '{exc.stage}' log ---", err=True)
        say(exc.log_tail, err=True)
        say("---", err=True)
    if exc.hint:
        say(f"hint: {exc.hint}", err=True)


def error_json(exc: PedigreeError) -> dict[str, Any]:
    """The JSON form of an error (for --json)."""
    data: dict[str, Any] = {"error": exc.message, "hint": exc.hint, "exit_code": exc.exit_code}
    if isinstance(exc, ProblemsError):
        data["problems"] = [p.to_dict() for p in exc.problems]
    if isinstance(exc, StageFailedError):
        data["stage"] = exc.stage
        data["log_tail"] = exc.log_tail
    redacted: dict[str, Any] = json.loads(redact_text(json.dumps(data)))
    return redacted


def print_traceback() -> None:
    """The current exception's traceback on stderr (--verbose), without credentials."""
    import traceback

    sys.stderr.write(redact_text(traceback.format_exc()))


def _fd(stream: Any) -> int | None:
    try:
        return int(stream.fileno())
    except (AttributeError, ValueError, OSError):  # replaced by a test, or already closed
        return None


def _reader_gone(fd: int) -> bool:
    """True when `fd` is a pipe or socket whose reading end is closed (POLLERR/POLLHUP)."""
    import select

    if not hasattr(select, "poll"):
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def output_closed() -> bool:
    """True when nobody reads our stdout or stderr any more (the reader of a pipe exited).

    Tells a broken pipe on our own output, which ends the command quietly, from one on a pipe
    to a child process, which is a real failure.
    """
    fds = [fd for fd in (_fd(sys.stdout), _fd(sys.stderr)) if fd is not None]
    return any(_reader_gone(fd) for fd in fds)


def silence_closed_output() -> None:
    """Send whatever would still go to a closed stdout or stderr to /dev/null (stdout when
    neither can be told closed).

    Python's own recipe (docs: "Note on SIGPIPE"): without it the interpreter's final flush of
    the buffered stdout fails again and prints "Exception ignored ... BrokenPipeError".
    """
    fds = [fd for fd in (_fd(sys.stdout), _fd(sys.stderr)) if fd is not None]
    closed = [fd for fd in fds if _reader_gone(fd)] or fds[:1]  # cannot tell: stdout, as usual
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in closed:
            os.dup2(devnull, fd)
    finally:
        os.close(devnull)
