"""Registry rows back into records, refusing a damaged value with where it is and how to fix it.

The registry stores calibration, metrics, environment, lineage and gate reasons as JSON text.
A value that is not JSON, or not the JSON shape pedigree wrote (an object, a list of reasons),
is a RegistryError naming the file, the table, the row and the column: never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pedigree.errors import RegistryError
from pedigree.registry.database import restore_hint
from pedigree.registry.records import Event, ModelVersion, Reason

REASON_KEYS = {"check": str, "passed": bool, "message": str}


def _problem(database: Path, table: str, key: str, column: str, what: str) -> RegistryError:
    return RegistryError(
        f"registry {database}: row {key} of table {table} has {what} in column {column}",
        f"{restore_hint(database)}; or repair the value with the sqlite3 shell "
        f"(UPDATE {table} SET {column} = ... WHERE {key})",
    )


def decode(database: Path, table: str, key: str, column: str, text: Any, kind: type) -> Any:
    """The JSON value of one cell, which must be a `kind` (dict or list)."""
    if not isinstance(text, str):
        return _fail_type(database, table, key, column, text)
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise _problem(database, table, key, column, f"malformed JSON ({exc})") from None
    if not isinstance(value, kind):
        wanted = "an object" if kind is dict else "a list"
        raise _problem(
            database, table, key, column, f"JSON {type(value).__name__} where {wanted} belongs"
        )
    return value


def _fail_type(database: Path, table: str, key: str, column: str, value: Any) -> Any:
    raise _problem(
        database, table, key, column, f"a {type(value).__name__} value where JSON text belongs"
    )


def version_from_row(
    database: Path, row: tuple[Any, ...], score_rows: list[tuple[Any, Any]]
) -> ModelVersion:
    """A ModelVersion from a `versions` row (in schema order) and its `scores` rows."""
    key = f"version = {row[0]}"

    def cell(index: int, column: str) -> Any:
        return decode(database, "versions", key, column, row[index], dict)

    scores = {
        split: decode(
            database, "scores", f"{key} AND test_split_sha256 = '{split}'", "metrics", text, dict
        )
        for split, text in score_rows
    }
    return ModelVersion(
        version=row[0],
        model_sha256=row[1],
        registered_at=row[2],
        status=row[3],
        artifact=row[4],
        calibration=cell(5, "calibration"),
        metrics=cell(6, "metrics"),
        test_split_sha256=row[7],
        scores=scores,
        git_commit=row[8],
        git_dirty=None if row[9] is None else bool(row[9]),
        environment=cell(10, "environment"),
        lineage=cell(11, "lineage"),
    )


def event_from_row(database: Path, row: tuple[Any, ...]) -> Event:
    """An Event from an `events` row: id, at, kind, version, previous, actor, reasons, note."""
    key = f"id = {row[0]}"
    reasons = []
    for item in decode(database, "events", key, "reasons", row[6], list):
        if not isinstance(item, dict) or set(item) != set(REASON_KEYS):
            raise _problem(
                database, "events", key, "reasons", "a reason that is not {check, passed, message}"
            )
        if not all(isinstance(item[k], t) for k, t in REASON_KEYS.items()):
            raise _problem(database, "events", key, "reasons", "a reason with a wrong value type")
        reasons.append(Reason(item["check"], item["passed"], item["message"]))
    event_id, at, kind, version, previous, actor = row[:6]
    return Event(event_id, at, kind, version, previous, actor, tuple(reasons), row[7])
