"""The registry's records: what a release hands in, what is stored, and what happened.

Plain frozen dataclasses with `to_dict()` for JSON; they carry no behaviour and import nothing
heavy, so the release stage, the API and the CLI can all share them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Candidate:
    """A trained, calibrated and evaluated model the release stage hands to the registry."""

    model_path: Path
    model_sha256: str
    calibration_path: Path | None
    calibration: dict[str, Any]
    metrics: dict[str, Any]
    test_split_sha256: str
    git_commit: str | None
    git_dirty: bool | None
    environment: dict[str, Any]
    lineage: dict[str, Any]
    # the files as DVC tracks them: {"path", "md5", "size", "sha256"} (md5 from dvc.lock)
    model_file: dict[str, Any] = field(default_factory=dict)
    calibration_file: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelVersion:
    """One registered model: its number, status, its files and everything it came from.

    `artifact` is the model's path in the project (a DVC output); `files` holds the model's and
    the calibration's DVC hashes and sha256 (`pedigree models get` fetches them by those)."""

    version: int
    model_sha256: str
    registered_at: str
    status: str
    artifact: str
    calibration: dict[str, Any]
    metrics: dict[str, Any]
    test_split_sha256: str
    scores: dict[str, dict[str, Any]]
    git_commit: str | None
    git_dirty: bool | None
    environment: dict[str, Any]
    lineage: dict[str, Any]
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class Reason:
    """One check of a gate decision and its outcome, in one plain sentence with the numbers."""

    check: str
    passed: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class GateDecision:
    """Whether a challenger replaces the champion, and every reason why (or why not)."""

    promoted: bool
    reasons: tuple[Reason, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"promoted": self.promoted, "reasons": [r.to_dict() for r in self.reasons]}


@dataclass(frozen=True)
class Event:
    """One line of history. For champion changes `version` is the champion afterwards (unless
    `superseded`: the change no longer held when replayed, so it changed nothing)."""

    id: int
    at: str
    kind: str  # registered | promoted | rejected | manual-promote | rolled-back
    version: int
    previous_champion: int | None
    actor: str
    reasons: tuple[Reason, ...]
    note: str | None
    superseded: bool = False
    file: str = ""  # the event file it was read from

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "reasons": [r.to_dict() for r in self.reasons]}


@dataclass(frozen=True)
class ReleaseOutcome:
    """What one release did: the challenger as stored, the decision, champion before/after."""

    challenger: ModelVersion
    newly_registered: bool
    champion_before: ModelVersion | None
    decision: GateDecision
    champion_after: ModelVersion | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "challenger": self.challenger.to_dict(),
            "newly_registered": self.newly_registered,
            "champion_before": self.champion_before and self.champion_before.to_dict(),
            "decision": self.decision.to_dict(),
            "champion_after": self.champion_after and self.champion_after.to_dict(),
        }


Decide = Callable[[ModelVersion, ModelVersion | None], GateDecision]
