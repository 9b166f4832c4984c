"""What a replicate reports per run and stage, and what the label audit did: plain frozen
dataclasses, importable without anything heavy (the CLI's `--help` stays fast)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pedigree.replicate.foldruns import Run

Outcome = Literal["ran", "reused"]


@dataclass(frozen=True)
class StageOutcome:
    """What happened to one stage of one run."""

    stage: str
    outcome: Outcome
    seconds: float


@dataclass(frozen=True)
class SeedOutcome:
    """One run (a seed, or a fold and seed): its workspace and its stages."""

    seed: int
    workspace: Path
    stages: tuple[StageOutcome, ...]
    fold: int | None = None

    @property
    def reused(self) -> bool:
        """True when no stage of this run had to run."""
        return all(s.outcome == "reused" for s in self.stages)


class RunObserver(Protocol):
    """Receives progress while the runs run (from worker threads, one call at a time)."""

    def stage_finished(self, run: Run, result: StageOutcome) -> None:
        """`result.stage` of `run` ran or was reused."""


@dataclass(frozen=True)
class LabelsOutcome:
    """What the label audit did, and the project files it wrote."""

    outcome: Literal["ran", "reused"]
    outs: tuple[str, ...]
    seconds: float
    workspace: Path
    images: int | None = None  # from its summary file: images ranked
    flagged: int | None = None  # and flagged as likely label errors

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "outcome": self.outcome,
            "outs": list(self.outs),
            "seconds": round(self.seconds, 3),
            "workspace": str(self.workspace),
            "images": self.images,
            "flagged": self.flagged,
        }
