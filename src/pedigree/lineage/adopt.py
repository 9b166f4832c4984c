"""After a run-cache restore (`pedigree run`, `pedigree pull`): make current the lineage record
of the run that made the restored outputs, from the local history."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pedigree.dvclock import read_lock_stages

if TYPE_CHECKING:
    from pedigree.executors.dvc import StageResult


def adopt_restored_records(root: Path, results: tuple[StageResult, ...]) -> list[str]:
    """After a run-cache restore (`pedigree run`, `pedigree pull`), make current the lineage
    record of the run that made the restored outputs (it is in the local history); warn when
    none is kept here."""
    restored = [r.stage for r in results if r.outcome == "restored"]
    if not restored:
        return []
    from pedigree.lineage import store  # pydantic: imported only when a stage was restored

    entries = read_lock_stages(root / "dvc.lock")
    warnings = []
    for stage in restored:
        outs = store.lock_outs(entries.get(stage) or {})
        try:
            current = store.read_current(root, stage)
        except store.LineageError:
            current = None  # a corrupt record is replaced by the restored run's, if kept
        if current is not None and store.outputs_match(current, outs):
            continue
        if store.adopt_from_history(root, stage, outs) is None:
            warnings.append(
                f"stage '{stage}' was restored from DVC's run-cache, but no lineage record of the "
                f"run that made those outputs is kept here: run `pedigree run --stage {stage} "
                "--force` to record one"
            )
    return warnings
