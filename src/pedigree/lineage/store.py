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
from typing import Any

from pydantic import ValidationError

from pedigree.atomic import BoundedReadError, read_bounded, write_atomically
from pedigree.errors import PedigreeError
from pedigree.lineage.record import LineageRecord

RECORDS_DIR = Path("lineage")
HISTORY_DIR = Path(".pedigree") / "lineage" / "runs"
EVENTS_FILE = Path(".pedigree") / "lineage" / "openlineage.jsonl"
# A record is a few kilobytes (params, a dozen artifacts, package versions); far more is not one.
MAX_RECORD_BYTES = 16 << 20


class LineageError(PedigreeError):
    """A lineage record is missing, unreadable or does not match what it describes."""


def current_path(root: Path, stage: str) -> Path:
    """The versioned record of `stage`'s current outputs.

    Stage names come from dvc.lock, which anyone can edit: a name that could reach outside
    lineage/ (a separator, `..`) is refused rather than turned into a path.
    """
    name = str(stage)
    if not name or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise LineageError(
            f"{name!r} is not a valid stage name (from dvc.lock)",
            "restore dvc.lock with `git checkout dvc.lock`, or re-run the pipeline",
        )
    return root / RECORDS_DIR / f"{name}.json"


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


def restore_hint(rel: str, stage: str) -> str:
    """How to get a good current record of `stage` (at `rel`) back."""
    return (
        f"restore it with `git checkout {rel}` or re-run the stage with "
        f"`pedigree run --stage {stage} --force`"
    )


def _invalid(where: str, detail: str, hint: str) -> LineageError:
    return LineageError(f"{where}: not a valid lineage record ({detail})", hint)


def parse_record(text: str | bytes, where: str, hint: str | None = None) -> LineageRecord:
    """A record from its JSON text (or bytes); LineageError saying what is wrong and where.

    Whatever the bytes (random, not UTF-8, not JSON, JSON nested absurdly deep, JSON that is not
    an object, keys missing or of the wrong type) the result is a record or a LineageError, never
    another exception.
    """
    hint = (
        hint or "restore it from git, or re-run the stage with `pedigree run --stage NAME --force`"
    )
    if isinstance(text, bytes):
        raw = text
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise _invalid(
                where, f"line {line}: not UTF-8: byte 0x{raw[exc.start]:02x}", hint
            ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid(where, f"line {exc.lineno}: not valid JSON: {exc.msg}", hint) from None
    except RecursionError:
        raise _invalid(where, "line 1: JSON nested too deeply", hint) from None
    if not isinstance(data, dict):
        raise _invalid(where, f"line 1: a JSON {_json_kind(data)}, not an object", hint)
    try:
        return LineageRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = len(exc.errors()) - 1
        extra = f"; and {more} more problem{'s' if more > 1 else ''}" if more else ""
        raise _invalid(where, f"key {loc}: {first['msg']}{extra}", hint) from None


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "boolean" if isinstance(value, bool) else "number"


def read_record_file(path: Path, where: str, hint: str) -> LineageRecord:
    """Read and parse one record file, at most MAX_RECORD_BYTES of it; LineageError if unusable."""
    try:
        raw = read_bounded(path, MAX_RECORD_BYTES)
    except BoundedReadError as exc:
        raise LineageError(f"{where}: not a valid lineage record (the file {exc})", hint) from None
    except OSError as exc:
        raise LineageError(f"{where}: cannot read: {exc.strerror or exc}", hint) from None
    return parse_record(raw, where, hint)


def read_current(root: Path, stage: str) -> LineageRecord | None:
    """The current record of `stage`, or None when it has none."""
    path = current_path(root, stage)
    if not path.exists() and not path.is_symlink():
        return None
    rel = path.relative_to(root).as_posix()
    return read_record_file(path, rel, restore_hint(rel, stage))


def history(root: Path, stage: str) -> list[LineageRecord]:
    """Every kept record of `stage`, oldest first; unreadable files are skipped."""
    folder = root / HISTORY_DIR / stage
    records = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            records.append(read_record_file(path, str(path), "delete it"))
        except LineageError:
            continue  # local history is a cache of past runs: a broken entry is just not used
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


def lock_outs(entry: dict[str, Any]) -> dict[str, str]:
    """{path: md5} of a dvc.lock stage entry's outs."""
    outs: dict[str, str] = {}
    # dvc.lock is a user-editable file: anything but the expected shape means "no outs".
    items = entry.get("outs") if isinstance(entry, dict) else None
    for out in items if isinstance(items, list) else []:
        if isinstance(out, dict) and "path" in out:
            outs[str(out["path"])] = str(out.get("md5") or out.get("hash") or "")
    return outs
