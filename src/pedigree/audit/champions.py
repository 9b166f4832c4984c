"""Check `champions`: every model that became champion earned it, or a person said why.

Replaying the registry's event log gives each champion change that applied. Each must be either
a `promoted` event of the release gate whose every reason passed (the gate's checks with the
thresholds of its time, as recorded then), or a `manual-promote` / `rolled-back` event naming who
did it (actor) and why (a non-empty note). A log that does not replay (a damaged, edited or
unparseable event file) is a finding naming the file. A pipeline without a registry (no events)
makes the check not applicable.

The audit package does not read the registry itself (the feature packages are independent):
`pedigree.api.audit` hands in the folder and a function that replays its log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from pedigree.audit.model import CheckResult, Finding, not_applicable, result
from pedigree.errors import PedigreeError

NAME = "champions"
GATE = "promoted"
BY_HAND = ("manual-promote", "rolled-back")
CHANGES = (GATE, *BY_HAND)


class GateReason(Protocol):
    """One recorded check of the gate (pedigree.registry.records.Reason)."""

    @property
    def check(self) -> str: ...
    @property
    def passed(self) -> bool: ...
    @property
    def message(self) -> str: ...


class LogEvent(Protocol):
    """One replayed history line (pedigree.registry.records.Event)."""

    @property
    def kind(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def previous_champion(self) -> int | None: ...
    @property
    def actor(self) -> str: ...
    @property
    def note(self) -> str | None: ...
    @property
    def superseded(self) -> bool: ...
    @property
    def file(self) -> str: ...
    @property
    def reasons(self) -> Sequence[GateReason]: ...


def _where(events: Path, event: LogEvent) -> str:
    return (events / event.file).as_posix() if event.file else events.as_posix()


def _finding(events: Path, event: LogEvent) -> Finding | None:
    """What is wrong with one applied champion change, or None."""
    where = _where(events, event)
    if event.kind == GATE:
        failed = [r for r in event.reasons if not r.passed]
        if not event.reasons:
            return Finding(
                f"v{event.version} was promoted by the release gate with no recorded reasons",
                where,
                "the gate records every check it made; restore the event file from git",
            )
        if failed:
            checks = ", ".join(f"{r.check} ({r.message})" for r in failed)
            return Finding(
                f"v{event.version} was promoted although the gate's checks failed: {checks}",
                where,
                "roll it back (`pedigree models rollback --reason ...`) or promote it by hand "
                "with the reason (`pedigree models promote VERSION --reason ...`)",
            )
        return None
    missing = [
        what
        for what, value in (("who (actor)", event.actor), ("why (note)", event.note))
        if not (value or "").strip() or value == "unknown"
    ]
    if missing:
        action = "promoted by hand" if event.kind == "manual-promote" else "restored by rollback"
        return Finding(
            f"v{event.version} was {action} without saying {' and '.join(missing)}",
            where,
            "give the reason: promote it again by hand with `--reason` (e.g. "
            '`pedigree models promote VERSION --reason "..."`), which records who and why',
        )
    return None


def check_champions(
    registry: Path | None, events: Path, replay: Callable[[], Sequence[LogEvent]]
) -> CheckResult:
    """Audit the champion changes of the registry at `registry` (None: the pipeline has none);
    `events` is its event folder, `replay` returns the replayed history."""
    if registry is None:
        return not_applicable(
            NAME,
            "the pipeline has no model registry (no registry events yet)",
            "nothing to do if the pipeline releases no model; otherwise run it (`pedigree run`) "
            "so its release stage records a decision, or point release.registry in params.yaml "
            "at the registry folder",
        )
    try:
        history = replay()
    except PedigreeError as exc:
        head, sep, _ = exc.message.partition(": ")
        where = head if sep and head.endswith(".json") else events.as_posix()
        return result(
            NAME,
            "",
            "the registry's log does not replay",
            [
                Finding(
                    # the message starts with the file when it names one: say it once
                    exc.message[len(head) + len(sep) :] if where == head else exc.message,
                    where,
                    exc.hint or "restore the registry's events from git",
                )
            ],
        )
    applied = [e for e in history if e.kind in CHANGES and not e.superseded]
    findings = [f for f in (_finding(events, e) for e in applied) if f is not None]
    return result(
        NAME,
        f"{len(applied)} champion change{'' if len(applied) == 1 else 's'}: each passed the gate "
        "or was made by hand with a reason",
        "champions without a passing gate or a stated reason",
        findings,
    )
