"""What an audit reports: findings, one result per check, and the whole report.

Plain frozen dataclasses with `to_dict`, so the CLI renders text or JSON from the same data and
scripts get exactly what the terminal shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHOWN = 5  # offending ids or files named in one finding; the rest are counted


@dataclass(frozen=True)
class Finding:
    """One thing wrong: what, where (file, stage or path) and how to fix it."""

    message: str
    where: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        """JSON form."""
        return {"message": self.message, "where": self.where, "fix": self.fix}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: passed when it has no findings.

    A check that cannot apply to this pipeline (the spec declares nothing for it to check) has
    `skipped` set to how to make it apply; its summary says why. Not applying is not a failure.
    """

    name: str
    summary: str
    findings: tuple[Finding, ...] = ()
    skipped: str | None = None
    # "warn": findings are reported but do not fail the audit (the labels check by default)
    severity: str = "fail"

    @property
    def ok(self) -> bool:
        """True when nothing was found, or only warnings."""
        return not self.findings or self.severity == "warn"

    @property
    def status(self) -> str:
        """'pass', 'warn', 'fail' or 'skip' (the check could not apply)."""
        if self.skipped is not None:
            return "skip"
        if self.findings and self.severity == "warn":
            return "warn"
        return "pass" if self.ok else "fail"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "ok": self.ok,
            "status": self.status,
            "summary": self.summary,
            "findings": [f.to_dict() for f in self.findings],
            **({"fix": self.skipped} if self.skipped is not None else {}),
        }


def not_applicable(name: str, reason: str, fix: str) -> CheckResult:
    """The result of a check that cannot apply: why (`reason`) and how to enable it (`fix`)."""
    return CheckResult(name, reason, (), fix)


@dataclass(frozen=True)
class AuditReport:
    """Every check that ran, in order; `ok` only when all passed."""

    root: Path
    checks: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(check.ok for check in self.checks)

    @property
    def skipped(self) -> tuple[str, ...]:
        """Names of the checks that could not apply."""
        return tuple(check.name for check in self.checks if check.status == "skip")

    @property
    def failed(self) -> tuple[str, ...]:
        """Names of the checks that failed."""
        return tuple(check.name for check in self.checks if not check.ok)

    @property
    def warned(self) -> tuple[str, ...]:
        """Names of the checks that only warned."""
        return tuple(check.name for check in self.checks if check.status == "warn")

    def check(self, name: str) -> CheckResult:
        """The result of the check called `name` (KeyError when it did not run)."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "root": str(self.root),
            "ok": self.ok,
            "failed": list(self.failed),
            "warned": list(self.warned),
            "skipped": list(self.skipped),
            "checks": [c.to_dict() for c in self.checks],
        }


def listing(items: Iterable[str], shown: int = SHOWN) -> str:
    """'a, b, c' for a few items, or 'a, b, c, ... (12 in all)' for many."""
    values = list(items)
    head = ", ".join(values[:shown])
    return head if len(values) <= shown else f"{head}, ... ({len(values)} in all)"


def result(name: str, passed: str, failed: str, findings: list[Finding]) -> CheckResult:
    """A CheckResult whose summary is `passed` or, with findings, `failed` plus their count."""
    if not findings:
        return CheckResult(name, passed)
    count = len(findings)
    return CheckResult(
        name, f"{failed} ({count} problem{'s' if count != 1 else ''})", tuple(findings)
    )
