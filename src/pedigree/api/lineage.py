"""The API behind `pedigree lineage PATH`: the upstream lineage of an output, rendered.

Formats:

- `tree` (default): an indented text tree, the stage that made PATH first, back to the source;
- `json`: every step in full (stable, sorted keys);
- `openlineage`: OpenLineage run events, JSON Lines (one event per line, like
  `.pedigree/lineage/openlineage.jsonl`): START and COMPLETE for every run in the lineage, oldest
  run first. They are rebuilt from the records, so they equal what was emitted when the stages ran
  (same run ids and times), whether or not the events file still exists;
- `prov`: W3C PROV-JSON (built with the `prov` library);
- `dot`: Graphviz text (`pedigree lineage models/model.keras --format dot | dot -Tsvg`).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pedigree.dvclock import read_lock_stages
from pedigree.project import open_project

# The records are pydantic models: imported by the functions, so that `pedigree --help` (which
# imports this module for FORMATS) does not load pydantic.
if TYPE_CHECKING:
    from pedigree.lineage.trace import Lineage

FORMATS = ("tree", "json", "openlineage", "prov", "dot")
LOCK_FILE = "dvc.lock"


@dataclass(frozen=True)
class LineageView:
    """A lineage and its rendering in one format."""

    lineage: Lineage
    fmt: str
    text: str


def project_path(root: Path, start: Path, path: str) -> str:
    """`path` (relative to `start`, or absolute) as a POSIX path relative to the project root."""
    from pedigree.lineage.store import LineageError

    given = Path(path)
    full = given if given.is_absolute() else start.resolve() / given
    rel = Path(os.path.relpath(os.path.normpath(full), root))
    if rel.parts[:1] == ("..",) or rel == Path("."):
        raise LineageError(
            f"'{path}' is not inside the project at {root}",
            "pass an output of the pipeline, e.g. models/model.keras",
        )
    return rel.as_posix()


def openlineage_lines(root: Path, lineage: Lineage) -> str:
    """START and COMPLETE (FAIL for a failed record) events of every run, one JSON per line."""
    from pedigree.lineage.events import namespace, repository_url, run_event

    repo_url = repository_url(root)
    space = namespace()
    lines = []
    for step in lineage.runs_upstream_first():
        end = "COMPLETE" if step.record.status == "succeeded" else "FAIL"
        for event_type in ("START", end):
            event = run_event(step.record, event_type, repo_url=repo_url, space=space)
            lines.append(json.dumps(event, sort_keys=True))
    return "\n".join(lines) + "\n"


def check_standard_fields(lineage: Lineage, fmt: str) -> None:
    """LineageError naming the record whose run id or times the standard formats cannot carry.

    The record schema keeps them as plain strings (older records and tests use other run ids),
    but OpenLineage needs a UUID and both it and PROV need ISO 8601 times: a record edited by
    hand must be named, not end in an internal error deep in the event or PROV library.
    """
    from pedigree.lineage.store import RECORDS_DIR, LineageError, restore_hint

    for step in lineage.steps:
        record, where = step.record, f"{RECORDS_DIR.as_posix()}/{step.stage}.json"
        hint = restore_hint(where, step.stage)
        if fmt == "openlineage":
            try:
                uuid.UUID(record.run_id)
            except ValueError:
                raise LineageError(
                    f"{where}: not a valid lineage record (key run_id: {record.run_id!r} is not "
                    "a UUID, which OpenLineage events need)",
                    hint,
                ) from None
        for key in ("started", "ended"):
            value = getattr(record, key)
            try:
                datetime.fromisoformat(value)
                if "t" not in value.lower():  # a date alone, or a space before the time
                    raise ValueError(value)
            except ValueError:
                raise LineageError(
                    f"{where}: not a valid lineage record (key {key}: {value!r} is not an ISO "
                    f"8601 date and time like 2024-05-01T10:00:00Z, which the {fmt} format needs)",
                    hint,
                ) from None


def render(root: Path, lineage: Lineage, fmt: str) -> str:
    """`lineage` as text in format `fmt` (one of FORMATS)."""
    from pedigree.lineage import formats
    from pedigree.lineage.store import LineageError

    if fmt in ("openlineage", "prov"):
        check_standard_fields(lineage, fmt)
    if fmt == "tree":
        return formats.render_tree(lineage)
    if fmt == "json":
        return formats.render_json(lineage)
    if fmt == "dot":
        return formats.render_dot(lineage)
    try:
        if fmt == "openlineage":
            return openlineage_lines(root, lineage)
        if fmt == "prov":
            from pedigree.lineage.provdoc import render_prov

            return render_prov(lineage)
    except (ValueError, TypeError) as exc:
        # The libraries validate more than the record schema does; what slipped past the check
        # above is still a record problem, not a bug.
        raise LineageError(
            f"the lineage of {lineage.target} cannot be written as {fmt}: {exc}",
            "check the records it names with `pedigree audit --check lineage-records`; "
            "`--format json` shows every record in full",
        ) from None
    raise LineageError(f"unknown lineage format '{fmt}'", f"use one of: {', '.join(FORMATS)}")


def lineage(start: Path, path: str, fmt: str = "tree") -> LineageView:
    """The upstream lineage of `path` in the project around `start`, rendered as `fmt`."""
    from pedigree.lineage.store import LineageError
    from pedigree.lineage.trace import trace

    if fmt not in FORMATS:
        raise LineageError(f"unknown lineage format '{fmt}'", f"use one of: {', '.join(FORMATS)}")
    project = open_project(start)
    root = project.root
    lock = read_lock_stages(root / LOCK_FILE)
    if not lock:
        raise LineageError(
            f"{LOCK_FILE} has no stages: nothing has run in {root} yet",
            "run the pipeline first with `pedigree run`",
        )
    found = trace(root, lock, project_path(root, start, path))
    return LineageView(found, fmt, render(root, found, fmt))
