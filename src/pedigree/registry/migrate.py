"""`pedigree models import`: an old SQLite registry turned into event files, once.

The old registry (`registry.sqlite` and its `artifacts/` folder) is read with the modules that
wrote it (`database` refuses a damaged file, `rows` decodes its rows) and never changed. Its
history becomes the equivalent events, in the same order and with the recorded times, actors and
notes: `registered` (with the version's record, and `scored` for further test splits),
`promoted` / `rejected` (with the gate's reasons), `manual-promote` and `rolled-back`. Each
champion change names the champion it replaced, as the old history recorded it.

Before anything is written the new log is replayed and must give the same versions (numbers,
models, statuses) and the same champion as the old registry; then the files are written to a
temporary folder that is renamed to `events/` in one step, so an import is all or nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pedigree.errors import RegistryError
from pedigree.registry import database as db
from pedigree.registry.events import EVENTS_DIR, RegistryEvent, events_dir, write_event
from pedigree.registry.records import Event, ModelVersion
from pedigree.registry.replay import RegistryState, replay
from pedigree.registry.rows import event_from_row, version_from_row

OLD_KINDS = ("registered", "promoted", "rejected", "manual-promote", "rolled-back")
CHUNK = 1 << 20
STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class LegacyRegistry:
    """What an old SQLite registry holds: its file, versions and history (in id order)."""

    database: Path
    versions: tuple[ModelVersion, ...]
    history: tuple[Event, ...]

    @property
    def champion(self) -> ModelVersion | None:
        """The version whose status is champion, or None."""
        return next((v for v in self.versions if v.status == "champion"), None)


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote: where from, where to, and the replayed registry."""

    source: Path
    registry: Path
    events: tuple[str, ...]
    state: RegistryState

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        champion = self.state.champion
        return {
            "source": str(self.source),
            "registry": str(self.registry),
            "events": list(self.events),
            "versions": [v.to_dict() for v in self.state.versions],
            "champion": None if champion is None else champion.version,
        }


def legacy_database(path: Path) -> Path:
    """The old registry's `registry.sqlite`, from its folder or the file itself."""
    path = Path(path)
    database = path / db.DATABASE if path.is_dir() else path
    if not database.is_file():
        raise RegistryError(
            f"no SQLite registry at {path} ({db.DATABASE} is missing)",
            "pass the old registry's folder (e.g. .pedigree/registry) or its registry.sqlite",
        )
    return database


def read_legacy(path: Path) -> LegacyRegistry:
    """Every version and event of the old registry at `path` (read-only; a damaged file is a
    RegistryError naming it)."""
    database = legacy_database(path)
    db.check_header(database)
    with db.translated_errors(database, 5.0):
        conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
        try:
            db.check_contents(conn, database)
            rows = conn.execute(
                "SELECT version, model_sha256, registered_at, status, artifact, calibration, "
                "metrics, test_split_sha256, git_commit, git_dirty, environment, lineage "
                "FROM versions ORDER BY version"
            ).fetchall()
            versions = []
            for row in rows:
                scores = conn.execute(
                    "SELECT test_split_sha256, metrics FROM scores WHERE version = ? "
                    "ORDER BY test_split_sha256",
                    (row[0],),
                ).fetchall()
                versions.append(version_from_row(database, row, scores))
            events = conn.execute(
                "SELECT id, at, kind, version, previous_champion, actor, reasons, note "
                "FROM events ORDER BY id"
            ).fetchall()
        finally:
            conn.close()
    return LegacyRegistry(
        database, tuple(versions), tuple(event_from_row(database, row) for row in events)
    )


def _file_record(path: Path, shown: str) -> dict[str, Any]:
    """{path, md5, size, sha256} of a stored artifact (md5 is DVC's hash of a whole file), or
    only the path when the old registry no longer holds it."""
    if not path.is_file():
        return {"path": shown}
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            md5.update(chunk)
            sha.update(chunk)
    return {
        "path": shown,
        "md5": md5.hexdigest(),
        "size": path.stat().st_size,
        "sha256": sha.hexdigest(),
    }


def _times(history: tuple[Event, ...]) -> list[str]:
    """The recorded times, made strictly increasing by microseconds: the old registry recorded
    seconds, and events of one second must replay in their old order."""
    times: list[str] = []
    last: datetime | None = None
    for event in history:
        try:
            at = datetime.strptime(event.at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise RegistryError(
                f"event {event.id} of the old registry has the time {event.at!r}, not "
                "YYYY-MM-DDTHH:MM:SSZ",
                "repair it with the sqlite3 shell, then import again",
            ) from None
        if last is not None and at <= last:
            at = last + timedelta(microseconds=1)
        last = at
        times.append(at.strftime(STAMP))
    return times


def legacy_events(legacy: LegacyRegistry) -> list[RegistryEvent]:
    """The event files equivalent to the old registry's history, in order."""
    by_number = {v.version: v for v in legacy.versions}
    folder = legacy.database.parent
    out: list[RegistryEvent] = []
    for event, at in zip(legacy.history, _times(legacy.history), strict=True):
        version = by_number.get(event.version)
        if version is None or event.kind not in OLD_KINDS:
            raise RegistryError(
                f"{legacy.database}: event {event.id} ({event.kind}) names no known version "
                f"v{event.version}",
                "repair the old registry with the sqlite3 shell, then import again",
            )
        previous = (
            None if event.previous_champion is None else by_number.get(event.previous_champion)
        )
        origin = {"imported_from": f"{legacy.database} event {event.id}"}
        if event.kind == "registered":
            stored = folder / version.artifact
            calibration = stored.parent / "calibration.json"
            data = {
                **origin,
                "test_split_sha256": version.test_split_sha256,
                "metrics": version.metrics,
                "model": _file_record(stored, version.artifact),
                "calibration": {
                    "values": version.calibration,
                    "file": _file_record(calibration, calibration.relative_to(folder).as_posix())
                    if calibration.is_file()
                    else {},
                },
                "git_commit": version.git_commit,
                "git_dirty": version.git_dirty,
                "environment": version.environment,
                "lineage": version.lineage,
            }
            out.append(
                RegistryEvent("registered", at, version.model_sha256, event.actor, data=data)
            )
            # further test splits (and a re-scored first one) as scored events right after
            for split, metrics in sorted(version.scores.items()):
                if split == version.test_split_sha256 and metrics == version.metrics:
                    continue
                scored = {**origin, "test_split_sha256": split, "metrics": metrics}
                out.append(
                    RegistryEvent("scored", at, version.model_sha256, event.actor, data=scored)
                )
            continue
        out.append(
            RegistryEvent(
                event.kind,
                at,
                version.model_sha256,
                event.actor,
                replaces=None if previous is None else previous.model_sha256,
                reasons=tuple(r.to_dict() for r in event.reasons),
                note=event.note,
                data=origin,
            )
        )
    return out


def _differences(legacy: LegacyRegistry, state: RegistryState) -> list[str]:
    old = [(v.version, v.model_sha256, v.status) for v in legacy.versions]
    new = [(v.version, v.model_sha256, v.status) for v in state.versions]
    problems = [f"v{o[0]}: {o[2]} in the old registry" for o in old if o not in new]
    problems += [f"v{n[0]}: {n[2]} replayed" for n in new if n not in old]
    before, after = legacy.champion, state.champion
    if (before and before.version) != (after and after.version):
        problems.append("the champion differs")
    return problems


def import_registry(source: Path, registry: Path) -> ImportResult:
    """Write the events of the old registry at `source` into the (empty) registry `registry`."""
    existing = events_dir(registry)
    if existing.is_dir() and any(not p.name.startswith(".") for p in existing.iterdir()):
        raise RegistryError(
            f"the registry at {registry} has events already; an import starts a registry",
            "import into an empty registry folder (--registry DIR, then set release.registry), "
            f"or move {existing} aside if it holds nothing you need",
        )
    legacy = read_legacy(source)
    events = legacy_events(legacy)
    named = tuple(dataclasses.replace(e, name=e.file_name()) for e in events)
    state = replay(named)
    problems = _differences(legacy, state)
    if problems:  # pragma: no cover - replay and the old store share their rules
        raise RegistryError(
            f"importing {legacy.database} would change the registry: " + "; ".join(problems),
            "report this as a bug, with the old registry file",
        )
    registry.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=registry))
    try:
        for event in events:
            write_event(staging, event)
        if existing.is_dir():
            existing.rmdir()  # empty (checked above): the staged folder takes its place
        os.replace(staging / EVENTS_DIR, existing)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ImportResult(legacy.database, registry, tuple(e.name for e in named), state)
