"""Where lineage records live, and reading them back.

`lineage/<stage>.json` holds the record of the run that produced the stage's current outputs.
It is committed with dvc.lock, so a fresh clone has it. Every run, failed ones included, is
also kept in `.pedigree/lineage/runs/<stage>/` (local history, not versioned): when DVC restores
a stage from its run-cache instead of running it, the record of the run that made those outputs
is found there and becomes current again.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from pedigree.atomic import write_atomically
from pedigree.errors import PedigreeError
from pedigree.lineage.record import LineageRecord

RECORDS_DIR = Path("lineage")
HISTORY_DIR = Path(".pedigree") / "lineage" / "runs"
EVENTS_FILE = Path(".pedigree") / "lineage" / "openlineage.jsonl"


class LineageError(PedigreeError):
    """A lineage record is missing, unreadable or does not match what it describes."""


def current_path(root: Path, stage: str) -> Path:
    """The versioned record of `stage`'s current outputs."""
    return root / RECORDS_DIR / f"{stage}.json"


def history_path(root: Path, record: LineageRecord) -> Path:
    """Where one run's record is kept in the local history."""
    stamp = record.started.replace(":", "").replace("-", "")
    return root / HISTORY_DIR / record.stage / f"{stamp}-{record.run_id}.json"


def write_record(root: Path, record: LineageRecord) -> Path:
    """Keep `record` in the history and, when the run succeeded, make it the current one."""
    text = record.to_json()
    write_atomically(history_path(root, record), text)
    if record.status != "succeeded":
        return history_path(root, record)
    path = current_path(root, record.stage)
    write_atomically(path, text)
    return path


def parse_record(text: str, where: str) -> LineageRecord:
    """A record from its JSON text; LineageError saying what is wrong and where."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LineageError(
            f"{where}: not valid JSON (line {exc.lineno}: {exc.msg})",
            "restore it from git, or re-run the stage with `pedigree run --stage NAME --force`",
        ) from None
    try:
        return LineageRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise LineageError(
            f"{where}: not a pedigree lineage record: {loc}: {first['msg']}",
            "restore it from git, or re-run the stage with `pedigree run --stage NAME --force`",
        ) from None


def read_current(root: Path, stage: str) -> LineageRecord | None:
    """The current record of `stage`, or None when it has none."""
    path = current_path(root, stage)
    if not path.is_file():
        return None
    return parse_record(path.read_text(encoding="utf-8"), str(path.relative_to(root)))


def history(root: Path, stage: str) -> list[LineageRecord]:
    """Every kept record of `stage`, oldest first; unreadable files are skipped."""
    folder = root / HISTORY_DIR / stage
    records = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            records.append(parse_record(path.read_text(encoding="utf-8"), str(path)))
        except LineageError:
            continue
    return records


def outputs_match(record: LineageRecord, lock_outs: dict[str, str]) -> bool:
    """True when the record's outputs are exactly dvc.lock's outs ({path: md5})."""
    return {o.path: o.md5 for o in record.outputs} == lock_outs


def adopt_from_history(root: Path, stage: str, lock_outs: dict[str, str]) -> LineageRecord | None:
    """Make current the newest successful past record whose outputs are `lock_outs`.

    Used after DVC restores `stage` from its run-cache: the outputs are those of an earlier run,
    so that run's record is the right one. None when no kept record matches.
    """
    for record in reversed(history(root, stage)):
        if record.status == "succeeded" and outputs_match(record, lock_outs):
            write_atomically(current_path(root, stage), record.to_json())
            return record
    return None


def lock_outs(entry: dict) -> dict[str, str]:
    """{path: md5} of a dvc.lock stage entry's outs."""
    outs = {}
    for out in entry.get("outs") or []:
        if isinstance(out, dict) and "path" in out:
            outs[str(out["path"])] = str(out.get("md5") or out.get("hash") or "")
    return outs
