"""OpenLineage run events for stage runs (placeholder until the emitter lands)."""

from __future__ import annotations

from pathlib import Path

from pedigree.lineage.record import LineageRecord


def emit(root: Path, record: LineageRecord, event_type: str) -> None:
    """Emit one OpenLineage run event for `record`."""
