"""What differs between the run dvc.lock records and the re-run: environment, code, params."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pedigree.lineage.record import LineageRecord, key_paths

# Fields of a record that describe the run itself, not what it ran on: they always differ.
PER_RUN = ("run_id", "started", "ended")


@dataclass(frozen=True)
class Difference:
    """One setting: its value in the recorded run and in the re-run."""

    key: str
    recorded: Any
    now: Any


def _context(record: LineageRecord) -> dict[str, Any]:
    data = record.model_dump(include={"environment", "params", "seeds"})
    data["code"] = {
        "folders": record.code.folders,
        "pedigree_version": record.code.pedigree_version,
    }
    return key_paths(data)


def differences(recorded: LineageRecord, now: LineageRecord) -> list[Difference]:
    """Every environment, code, params and seed setting that differs between two runs."""
    before, after = _context(recorded), _context(now)
    return [
        Difference(key, before.get(key), after.get(key))
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    ]
