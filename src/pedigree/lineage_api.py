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
from dataclasses import dataclass
from pathlib import Path

from pedigree.dvclock import read_lock_stages
from pedigree.lineage.store import LineageError
from pedigree.lineage.trace import Lineage, trace
from pedigree.project import open_project

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


def render(root: Path, lineage: Lineage, fmt: str) -> str:
    """`lineage` as text in format `fmt` (one of FORMATS)."""
    from pedigree.lineage import formats

    if fmt == "tree":
        return formats.render_tree(lineage)
    if fmt == "json":
        return formats.render_json(lineage)
    if fmt == "dot":
        return formats.render_dot(lineage)
    if fmt == "openlineage":
        return openlineage_lines(root, lineage)
    if fmt == "prov":
        from pedigree.lineage.provdoc import render_prov

        return render_prov(lineage)
    raise LineageError(f"unknown lineage format '{fmt}'", f"use one of: {', '.join(FORMATS)}")


def lineage(start: Path, path: str, fmt: str = "tree") -> LineageView:
    """The upstream lineage of `path` in the project around `start`, rendered as `fmt`."""
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
