"""The one exception tree of pedigree and the exit codes (`ExitCode`) the CLI maps it to.

`ExitCode` is the one list of exit codes: the CLI returns its members, each error class names
the one it ends in, and the table in docs/cli.md is checked against it by a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit code of `pedigree`, with what it means (docs/cli.md "Exit codes" shows them)."""

    OK = 0
    STAGE_FAILED = 1  # a stage failed (here or in a watched cluster run); verify: not reproduced
    USER_ERROR = 2  # invalid spec, params, flags or data source; cluster 404/409/422
    OUT_OF_SYNC = 3  # generated files stale or locks disagree (`check`, `status`)
    TOOL_ERROR = 4  # a tool pedigree drives failed or is missing; cluster unreachable, 401, 403
    INTERNAL_ERROR = 5  # a bug in pedigree (run with --verbose for the traceback)
    INTERRUPTED = 130  # Ctrl-C
    BROKEN_PIPE = 141  # the reader of the output went away (128 + SIGPIPE)


class PedigreeError(Exception):
    """Root of every error pedigree raises on purpose; the CLI prints it as one line."""

    exit_code: int = ExitCode.USER_ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a user file: what, where (file, line, key path) and how to fix it."""

    file: str
    line: int | None
    path: str
    message: str
    hint: str | None = None

    def render(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        at = f" [{self.path}]" if self.path else ""
        text = f"{where}{at}: {self.message}"
        return text if not self.hint else f"{text} (hint: {self.hint})"

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
        }


class ProblemsError(PedigreeError):
    """A user file has one or more problems; all of them are reported at once."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        first = self.problems[0].render() if self.problems else "invalid input"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(first + more)

    def __str__(self) -> str:
        return "\n".join(p.render() for p in self.problems)


class SpecError(ProblemsError):
    """The pipeline spec is invalid."""


class ParamsError(ProblemsError):
    """params.yaml (or a stage's section of it) is invalid."""


class SourceError(PedigreeError):
    """A data source is empty, unusable, unreachable or fails its pin."""


class ProjectError(PedigreeError):
    """The directory is not a pedigree project, or a required project file is missing."""


class StaleError(PedigreeError):
    """Generated files or locks are out of sync with their sources."""

    exit_code: int = ExitCode.OUT_OF_SYNC


class StageFailedError(PedigreeError):
    """A stage's command exited non-zero."""

    exit_code: int = ExitCode.STAGE_FAILED

    def __init__(self, stage: str, message: str, log_tail: str = "", hint: str | None = None):
        super().__init__(message, hint)
        self.stage = stage
        self.log_tail = log_tail


class ToolError(PedigreeError):
    """A tool pedigree drives (dvc, git) is missing or failed outside any stage."""

    exit_code: int = ExitCode.TOOL_ERROR


class RegistryError(PedigreeError):
    """The model registry refused an action (no such version, nothing to roll back to, ...)."""


class RegistryBusyError(RegistryError):
    """Another process held the registry longer than we were willing to wait."""

    exit_code: int = ExitCode.TOOL_ERROR


class ServeError(PedigreeError):
    """The model cannot be served: its files are missing or are not the bytes recorded."""

    exit_code = ExitCode.USER_ERROR


class BadRequestError(PedigreeError):
    """A request to the model server is invalid (answered 4xx; the server keeps serving).

    A predictor raises it for input it cannot use, e.g. bytes that decode to no image."""


class InterruptedRunError(PedigreeError):
    """The user interrupted a run (Ctrl-C); nothing half-written was kept."""

    exit_code: int = ExitCode.INTERRUPTED


class ClusterError(PedigreeError):
    """Kubernetes could not be used: configuration, connection, credentials or rights."""

    exit_code: int = ExitCode.TOOL_ERROR


class RunNotFoundError(ClusterError):
    """No such cluster run (Workflow), or no such stage or log in it."""

    exit_code: int = ExitCode.USER_ERROR


class ClusterRequestError(ClusterError):
    """The API server refused what we sent: it already exists (409) or is invalid (422)."""

    exit_code: int = ExitCode.USER_ERROR


class RunFailedError(ClusterError):
    """A watched cluster run ended Failed or Error; `stage` is the first stage that failed."""

    exit_code: int = ExitCode.STAGE_FAILED

    def __init__(self, run: str, stage: str | None, message: str, hint: str | None = None):
        super().__init__(message, hint)
        self.run = run
        self.stage = stage
