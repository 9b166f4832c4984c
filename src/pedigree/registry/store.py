"""The embedded model registry: one SQLite file for the records, one folder for the artifacts.

Layout under the registry root:
    registry.sqlite                  versions, scores per test split, and an append-only history
    artifacts/<sha256>/model.keras   every registered model, content-addressed
    artifacts/<sha256>/calibration.json

Every change happens in one `BEGIN IMMEDIATE` transaction: SQLite then lets exactly one writer in
at a time, across processes, so a release reads the champion, asks the gate and records the
outcome against the champion as it really is, and two releases at once cannot lose or duplicate
a version. WAL mode lets readers (`pedigree models list`) run while a release writes.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pedigree.errors import RegistryBusyError, RegistryError
from pedigree.registry.artifacts import store_artifacts
from pedigree.registry.records import (
    Candidate,
    Decide,
    Event,
    ModelVersion,
    Reason,
    ReleaseOutcome,
)
from pedigree.registry.snapshot import backup

SCHEMA_VERSION = 1
DATABASE = "registry.sqlite"
STATUSES = ("champion", "challenger", "rejected", "retired", "rolled-back")
# Events after which `version` is the champion: rollback walks these back in time.
CHAMPION_EVENTS = ("promoted", "manual-promote", "rolled-back")
PROMOTE_HINT = "promote one by hand: `pedigree models promote VERSION`"

SCHEMA = f"""
CREATE TABLE versions (
    version INTEGER PRIMARY KEY,
    model_sha256 TEXT NOT NULL UNIQUE,
    registered_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({", ".join(f"'{s}'" for s in STATUSES)})),
    artifact TEXT NOT NULL,
    calibration TEXT NOT NULL,
    metrics TEXT NOT NULL,
    test_split_sha256 TEXT NOT NULL,
    git_commit TEXT,
    git_dirty INTEGER,
    environment TEXT NOT NULL,
    lineage TEXT NOT NULL
);
-- at most one champion, enforced by SQLite itself rather than by every code path
CREATE UNIQUE INDEX one_champion ON versions (status) WHERE status = 'champion';
CREATE TABLE scores (
    version INTEGER NOT NULL REFERENCES versions (version),
    test_split_sha256 TEXT NOT NULL,
    metrics TEXT NOT NULL,
    PRIMARY KEY (version, test_split_sha256)
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL REFERENCES versions (version),
    previous_champion INTEGER REFERENCES versions (version),
    actor TEXT NOT NULL,
    reasons TEXT NOT NULL,
    note TEXT
);
PRAGMA user_version = {SCHEMA_VERSION};
"""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dumps(value: Any) -> str:
    # canonical JSON: the same dict is always stored as the same text
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class Registry:
    """A model registry rooted at a folder (created, with its schema, when missing)."""

    def __init__(self, root: Path, timeout: float = 60.0) -> None:
        self.root = Path(root)
        self.database = self.root / DATABASE
        self.timeout = timeout
        try:
            (self.root / "artifacts").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RegistryError(
                f"cannot create the model registry at {self.root}: {exc.strerror}",
                "check the path and its permissions, or pass another --registry",
            ) from None
        self._initialise()

    # --- connections and transactions -------------------------------------------------------

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._translated_errors():
            conn = sqlite3.connect(self.database, timeout=self.timeout, isolation_level=None)
        try:
            with self._translated_errors():
                conn.execute("PRAGMA foreign_keys = ON")
                yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction; IMMEDIATE takes the write lock at BEGIN: read-decide-write is atomic."""
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def _translated_errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise RegistryBusyError(
                    f"the model registry at {self.root} stayed locked by another process for "
                    f"{self.timeout:g}s",
                    "wait for the other release or `pedigree models` command to finish, then "
                    "try again",
                ) from None
            raise self._broken(text) from None
        except sqlite3.DatabaseError as exc:
            raise self._broken(str(exc)) from None

    def _broken(self, text: str) -> RegistryError:
        return RegistryError(
            f"the registry database {self.database} is unreadable: {text}",
            f"restore {self.database.name} from a backup, or move it aside to start an empty "
            "registry (the artifacts/ folder is kept)",
        )

    @contextlib.contextmanager
    def _init_lock(self) -> Iterator[None]:
        # Switching a new file to WAL needs an exclusive lock that SQLite does not wait for
        # (no busy handler): processes opening a fresh registry at once take turns here.
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: SQLite's own locking only
            yield
            return
        with (self.root / ".init.lock").open("a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _initialise(self) -> None:
        with self._init_lock(), self._connection() as conn:
            # WAL is a property of the file: set once, then every connection uses it.
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            found = conn.execute("PRAGMA user_version").fetchone()[0]
            if found == SCHEMA_VERSION:
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._create_schema(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        # read again under the write lock: another process may have created it meanwhile
        found = conn.execute("PRAGMA user_version").fetchone()[0]
        if found > SCHEMA_VERSION:
            raise RegistryError(
                f"the model registry at {self.root} has schema version {found}, newer than this "
                f"pedigree understands ({SCHEMA_VERSION})",
                "upgrade pedigree to the version that wrote this registry",
            )
        if found == SCHEMA_VERSION:
            return
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise RegistryError(
                f"{self.database} is a SQLite database but not a pedigree model registry",
                "move it aside, or pass --registry with the right folder",
            )
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)

    # --- reading -----------------------------------------------------------------------------

    def _row_to_version(self, conn: sqlite3.Connection, row: tuple[Any, ...]) -> ModelVersion:
        scores = {
            split: json.loads(metrics)
            for split, metrics in conn.execute(
                "SELECT test_split_sha256, metrics FROM scores WHERE version = ? "
                "ORDER BY test_split_sha256",
                (row[0],),
            )
        }
        return ModelVersion(
            version=row[0],
            model_sha256=row[1],
            registered_at=row[2],
            status=row[3],
            artifact=row[4],
            calibration=json.loads(row[5]),
            metrics=json.loads(row[6]),
            test_split_sha256=row[7],
            scores=scores,
            git_commit=row[8],
            git_dirty=None if row[9] is None else bool(row[9]),
            environment=json.loads(row[10]),
            lineage=json.loads(row[11]),
        )

    def _select(
        self, conn: sqlite3.Connection, where: str = "", args: tuple[Any, ...] = ()
    ) -> list[ModelVersion]:
        rows = conn.execute(
            "SELECT version, model_sha256, registered_at, status, artifact, calibration, metrics, "
            "test_split_sha256, git_commit, git_dirty, environment, lineage FROM versions "
            f"{where} ORDER BY version",
            args,
        ).fetchall()
        return [self._row_to_version(conn, row) for row in rows]

    def _get(self, conn: sqlite3.Connection, version: int) -> ModelVersion:
        found = self._select(conn, "WHERE version = ?", (version,))
        if found:
            return found[0]
        existing = [row[0] for row in conn.execute("SELECT version FROM versions ORDER BY 1")]
        hint = (
            "existing versions: " + ", ".join(f"v{v}" for v in existing)
            if existing
            else "the registry is empty: run the pipeline (`pedigree run`) to release a model"
        )
        raise RegistryError(f"no model version {version} in the registry at {self.root}", hint)

    def _champion(self, conn: sqlite3.Connection) -> ModelVersion | None:
        found = self._select(conn, "WHERE status = 'champion'")
        return found[0] if found else None

    def versions(self) -> list[ModelVersion]:
        """Every registered version, ascending."""
        with self._transaction(write=False) as conn:
            return self._select(conn)

    def get(self, version: int) -> ModelVersion:
        """One version; RegistryError naming the existing versions when it is not there."""
        with self._transaction(write=False) as conn:
            return self._get(conn, version)

    def champion(self) -> ModelVersion | None:
        """The version serving now, or None before the first promotion."""
        with self._transaction(write=False) as conn:
            return self._champion(conn)

    def history(self, version: int | None = None) -> list[Event]:
        """Every event in order; with `version`, the events that involve that version."""
        with self._transaction(write=False) as conn:
            where, args = "", ()
            if version is not None:
                self._get(conn, version)
                where, args = "WHERE version = ? OR previous_champion = ?", (version, version)
            rows = conn.execute(
                "SELECT id, at, kind, version, previous_champion, actor, reasons, note "
                f"FROM events {where} ORDER BY id",
                args,
            ).fetchall()
        return [
            Event(*row[:6], tuple(Reason(**r) for r in json.loads(row[6])), row[7]) for row in rows
        ]

    def artifact_path(self, version: ModelVersion) -> Path:
        """Absolute path of the stored model file of `version`."""
        return (self.root / version.artifact).resolve()

    # --- writing -----------------------------------------------------------------------------

    def _event(
        self,
        conn: sqlite3.Connection,
        kind: str,
        version: int,
        previous: int | None,
        actor: str,
        reasons: tuple[Reason, ...] = (),
        note: str | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO events (at, kind, version, previous_champion, actor, reasons, note) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_now(), kind, version, previous, actor, _dumps([asdict(r) for r in reasons]), note),
        )

    def _set_champion(self, conn: sqlite3.Connection, version: int, old_status: str) -> None:
        # demote first: the one_champion index refuses two champions even for a moment
        conn.execute(
            "UPDATE versions SET status = ? WHERE status = 'champion' AND version != ?",
            (old_status, version),
        )
        conn.execute("UPDATE versions SET status = 'champion' WHERE version = ?", (version,))

    def _register(
        self, conn: sqlite3.Connection, candidate: Candidate, artifact: str, actor: str
    ) -> tuple[int, bool]:
        """Find or add the version of `candidate` and record its score on its test split."""
        row = conn.execute(
            "SELECT version FROM versions WHERE model_sha256 = ?", (candidate.model_sha256,)
        ).fetchone()
        if row is not None:
            self._score(conn, row[0], candidate)
            return row[0], False
        version = conn.execute("SELECT coalesce(max(version), 0) + 1 FROM versions").fetchone()[0]
        conn.execute(
            "INSERT INTO versions VALUES (?, ?, ?, 'challenger', ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                version,
                candidate.model_sha256,
                _now(),
                artifact,
                _dumps(candidate.calibration),
                _dumps(candidate.metrics),
                candidate.test_split_sha256,
                candidate.git_commit,
                None if candidate.git_dirty is None else int(candidate.git_dirty),
                _dumps(candidate.environment),
                _dumps(candidate.lineage),
            ),
        )
        champion = self._champion(conn)
        self._event(
            conn, "registered", version, None if champion is None else champion.version, actor
        )
        self._score(conn, version, candidate)
        return version, True

    def _score(self, conn: sqlite3.Connection, version: int, candidate: Candidate) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO scores (version, test_split_sha256, metrics) VALUES (?, ?, ?)",
            (version, candidate.test_split_sha256, _dumps(candidate.metrics)),
        )

    def register(self, candidate: Candidate, actor: str = "release") -> tuple[ModelVersion, bool]:
        """Store the model and record it (idempotent on its sha256); True when it is new."""
        artifact = store_artifacts(self.root, candidate)
        with self._transaction(write=True) as conn:
            version, new = self._register(conn, candidate, artifact, actor)
            return self._get(conn, version), new

    def release(
        self,
        candidate: Candidate,
        decide: Decide,
        actor: str = "release",
        snapshot_to: Path | None = None,
    ) -> ReleaseOutcome:
        """Register `candidate`, ask `decide` against the current champion, record the outcome.

        The read of the champion, the decision and its recording share one write lock, so
        concurrent releases are decided one after the other, each against the real champion.
        With `snapshot_to`, the database as the decision found it is copied there first.
        """
        artifact = store_artifacts(self.root, candidate)
        with self._transaction(write=True) as conn:
            if snapshot_to is not None:
                backup(self.database, snapshot_to, self.timeout)
            version, new = self._register(conn, candidate, artifact, actor)
            challenger = self._get(conn, version)
            before = self._champion(conn)
            decision = decide(challenger, before)
            previous = None if before is None else before.version
            if decision.promoted:
                self._set_champion(conn, version, "retired")
            elif challenger.status == "challenger":
                # only a never-promoted model is marked rejected; a former champion keeps its story
                conn.execute(
                    "UPDATE versions SET status = 'rejected' WHERE version = ?", (version,)
                )
            kind = "promoted" if decision.promoted else "rejected"
            self._event(conn, kind, version, previous, actor, decision.reasons)
            return ReleaseOutcome(
                self._get(conn, version), new, before, decision, self._champion(conn)
            )

    def promote(self, version: int, reason: str, actor: str) -> ModelVersion:
        """Make any registered `version` the champion by hand (an override of the gate)."""
        with self._transaction(write=True) as conn:
            target = self._get(conn, version)
            before = self._champion(conn)
            if before is not None and before.version == version:
                raise RegistryError(
                    f"v{version} is already the champion",
                    "nothing to do; `pedigree models list` shows every version",
                )
            self._set_champion(conn, version, "retired")
            previous = None if before is None else before.version
            self._event(
                conn, "manual-promote", target.version, previous, actor, note=reason or None
            )
            return self._get(conn, version)

    def rollback(self, reason: str, actor: str) -> tuple[ModelVersion, ModelVersion]:
        """Demote the champion to rolled-back and restore the champion before it.

        Returns (demoted, restored). Repeated rollbacks walk further back: rolled-back versions
        are never restored by a rollback (a human can still promote one).
        """
        with self._transaction(write=True) as conn:
            current = self._champion(conn)
            if current is None:
                raise RegistryError(
                    f"there is no champion to roll back in the registry at {self.root}",
                    PROMOTE_HINT,
                )
            marks = ", ".join("?" * len(CHAMPION_EVENTS))
            row = conn.execute(
                f"SELECT e.version FROM events e JOIN versions v ON v.version = e.version "
                f"WHERE e.kind IN ({marks}) AND e.version != ? AND v.status != 'rolled-back' "
                "ORDER BY e.id DESC LIMIT 1",
                (*CHAMPION_EVENTS, current.version),
            ).fetchone()
            if row is None:
                raise RegistryError(
                    f"there is no earlier champion to roll back to from v{current.version}",
                    PROMOTE_HINT,
                )
            self._set_champion(conn, row[0], "rolled-back")
            self._event(conn, "rolled-back", row[0], current.version, actor, note=reason or None)
            return self._get(conn, current.version), self._get(conn, row[0])
