"""Replaying the registry's log into versions, statuses, a champion and a history.

A pure function of the events: every clone holding the same files gets the same answer.
- A model's version number is the order of its first `registered` event in the log (v1, v2, ...).
- A champion change applies only while the champion it `replaces` is still the champion
  (compare-and-set). One that no longer holds, e.g. the second of two branches that promoted
  different models from the same champion, is kept in the history marked superseded and changes
  nothing.
- Statuses: challenger (registered, never decided), rejected (the gate said no and it never
  served), champion, retired (served, then replaced), rolled-back (demoted by a rollback).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pedigree.errors import RegistryError
from pedigree.registry.events import FIX, RegistryEvent
from pedigree.registry.records import Event, ModelVersion, Reason


@dataclass(frozen=True)
class RegistryState:
    """What the log replays to: every version, the champion, and the history in log order."""

    versions: tuple[ModelVersion, ...]
    champion: ModelVersion | None
    history: tuple[Event, ...]

    def by_number(self, number: int) -> ModelVersion | None:
        """The version numbered `number`, or None."""
        return next((v for v in self.versions if v.version == number), None)

    def by_sha256(self, sha256: str) -> ModelVersion | None:
        """The version of the model with this sha256, or None."""
        return next((v for v in self.versions if v.model_sha256 == sha256), None)


@dataclass
class _Entry:
    number: int
    event: RegistryEvent  # the registered event
    status: str
    scores: dict[str, dict[str, Any]]


def _obj(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _version(entry: _Entry) -> ModelVersion:
    data = entry.event.data
    model = _obj(data.get("model"))
    calibration = _obj(data.get("calibration"))
    return ModelVersion(
        version=entry.number,
        model_sha256=entry.event.model_sha256,
        registered_at=entry.event.at,
        status=entry.status,
        artifact=str(model.get("path", "")),
        calibration=_obj(calibration.get("values")),
        metrics=dict(data.get("metrics") or {}),
        test_split_sha256=str(data.get("test_split_sha256", "")),
        scores={k: dict(v) for k, v in sorted(entry.scores.items())},
        git_commit=data.get("git_commit"),
        git_dirty=data.get("git_dirty"),
        environment=dict(data.get("environment") or {}),
        lineage=dict(data.get("lineage") or {}),
        files={"model": model, "calibration": _obj(calibration.get("file"))},
    )


def _reasons(event: RegistryEvent) -> tuple[Reason, ...]:
    return tuple(
        Reason(str(r.get("check", "")), bool(r.get("passed")), str(r.get("message", "")))
        for r in event.reasons
    )


def replay(events: tuple[RegistryEvent, ...]) -> RegistryState:
    """The registry the log describes; RegistryError (naming the file) for an impossible log."""
    entries: dict[str, _Entry] = {}
    champion: str | None = None
    history: list[Event] = []

    def entry_of(event: RegistryEvent) -> _Entry:
        found = entries.get(event.model_sha256)
        if found is None:
            raise RegistryError(
                f"{event.name}: a {event.kind} event for model {event.model_sha256[:12]}, which "
                "no earlier event registered",
                FIX.replace("PATH", event.name),
            )
        return found

    for index, event in enumerate(events, start=1):
        if event.kind == "registered":
            if event.model_sha256 in entries:
                continue  # registered again on another branch: the first registration counts
            split = str(event.data.get("test_split_sha256", ""))
            metrics = dict(event.data.get("metrics") or {})
            entries[event.model_sha256] = _Entry(
                len(entries) + 1, event, "challenger", {split: metrics} if split else {}
            )
            entry = entries[event.model_sha256]
            previous = None if champion is None else entries[champion].number
            history.append(_event(index, event, entry.number, previous))
            continue
        entry = entry_of(event)
        if event.kind == "scored":
            split = str(event.data.get("test_split_sha256", ""))
            entry.scores[split] = dict(event.data.get("metrics") or {})
            continue
        if event.replaces is not None and event.replaces not in entries:
            raise RegistryError(
                f"{event.name}: [replaces] names model {event.replaces[:12]}, which no earlier "
                "event registered",
                FIX.replace("PATH", event.name),
            )
        previous = None if event.replaces is None else entries[event.replaces].number
        if event.kind == "rejected":
            if entry.status == "challenger":
                entry.status = "rejected"
            history.append(_event(index, event, entry.number, previous))
            continue
        # a champion change (CHAMPION_KINDS): compare-and-set against the champion now
        if event.model_sha256 == champion == event.replaces:
            # the gate re-confirmed the champion: nothing changes, nothing is superseded
            history.append(_event(index, event, entry.number, previous))
            continue
        applies = event.replaces == champion and event.model_sha256 != champion
        if applies:
            if champion is not None:
                entries[champion].status = (
                    "rolled-back" if event.kind == "rolled-back" else "retired"
                )
            entry.status = "champion"
            champion = event.model_sha256
        history.append(_event(index, event, entry.number, previous, superseded=not applies))
    versions = tuple(_version(e) for e in sorted(entries.values(), key=lambda e: e.number))
    current = None if champion is None else _version(entries[champion])
    return RegistryState(versions, current, tuple(history))


def _event(
    index: int,
    event: RegistryEvent,
    number: int,
    previous: int | None,
    superseded: bool = False,
) -> Event:
    return Event(
        id=index,
        at=event.at,
        kind=event.kind,
        version=number,
        previous_champion=previous,
        actor=event.actor,
        reasons=_reasons(event),
        note=event.note,
        superseded=superseded,
        file=event.name,
    )
