"""The SQLite registry as pedigree wrote it before the registry moved into git (a test fixture).

A copy of `pedigree.registry.store` and `pedigree.registry.artifacts` as they were (release
snapshots left out), kept so the tests can build a registry exactly as that code did and check
that `pedigree models import` turns it into event files. It uses the same `database` and `rows`
modules that the import reads with. Not used by pedigree itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pedigree.errors import RegistryError
from pedigree.registry import database as db
from pedigree.registry.database import DATABASE
from pedigree.registry.records import (
    Candidate,
    Decide,
    Event,
    ModelVersion,
    Reason,
    ReleaseOutcome,
)
from pedigree.registry.rows import event_from_row, version_from_row
from pedigree.stagekit import sha256_file

ARTIFACTS = "artifacts"
MODEL_FILE = "model.keras"
CALIBRATION_FILE = "calibration.json"
SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20


def store_artifacts(root: Path, candidate: Candidate) -> str:
    """Copy the model (and calibration) into root/artifacts/<sha256>/, verified, atomically.

    Returns the model's path relative to `root`. A model already stored with the right bytes is
    not copied again; the copy's own sha256 must equal the candidate's, else RegistryError.
    """
    sha = candidate.model_sha256
    if not SHA256.fullmatch(sha):  # `$` alone would accept a final newline
        raise RegistryError(
            f"'{sha}' is not a sha256 (64 lowercase hex characters)",
            "pass the hex digest of the model file, e.g. from pedigree.stagekit.sha256_file",
        )
    folder = root / ARTIFACTS / sha
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / MODEL_FILE
    if not (target.is_file() and sha256_file(target) == sha):
        copied = _copy_atomically(candidate.model_path, target, expect=sha)
        if copied != sha:
            raise RegistryError(
                f"model {candidate.model_path} has sha256 {copied}, not the {sha} it was "
                "registered with",
                "the file changed after it was hashed: re-run the stage that wrote it",
            )
    calibration = candidate.calibration_path
    # the first calibration stored with a model stays, like the first registration's record
    if calibration is not None and not (folder / CALIBRATION_FILE).is_file():
        _copy_atomically(calibration, folder / CALIBRATION_FILE, expect=None)
    return f"{ARTIFACTS}/{sha}/{MODEL_FILE}"


def _copy_atomically(source: Path, target: Path, expect: str | None) -> str:
    """Copy `source` to `target` via a temp file, fsync and rename; return the copy's sha256.

    With `expect`, a copy whose hash differs is deleted instead of renamed into place.
    """
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, Path(source).open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if expect is not None and digest.hexdigest() != expect:
            Path(tmp).unlink(missing_ok=True)
            return digest.hexdigest()
        os.replace(tmp, target)
    except FileNotFoundError:
        Path(tmp).unlink(missing_ok=True)
        raise RegistryError(
            f"cannot store {source} in the registry: the file does not exist",
            "check the path the release stage passes",
        ) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)
    return digest.hexdigest()


def _fsync_folder(folder: Path) -> None:
    # the rename is durable only once the folder entry is on disk (POSIX; a no-op elsewhere)
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# Events after which `version` is the champion: rollback walks these back in time.
CHAMPION_EVENTS = ("promoted", "manual-promote", "rolled-back")
PROMOTE_HINT = "promote one by hand: `pedigree models promote VERSION`"

OnChampion = Callable[[ModelVersion], None]
"""Called with the champion inside the transaction that decided it, before it commits: what it
writes (the serving manifest) then always names the champion the registry commits, because no
other writer can change the champion until this one has committed."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dumps(value: Any) -> str:
    # canonical JSON: the same dict is always stored as the same text
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class Registry:
    """A model registry rooted at a folder.

    With `create` (the default: the release stage, `pedigree models promote`), a missing
    registry is created; without it (reading commands) a missing one is a RegistryError. Either
    way an existing file that is empty, truncated or not a registry is refused, never rewritten.
    """

    def __init__(self, root: Path, timeout: float = 60.0, create: bool = True) -> None:
        self.root = Path(root)
        self.database = self.root / DATABASE
        self.timeout = timeout
        if not create and not self.database.exists():
            raise RegistryError(
                f"no model registry at {self.root} ({DATABASE} is missing)",
                "run the pipeline (`pedigree run`) to release a first model, or pass --registry",
            )
        if create:
            try:
                (self.root / "artifacts").mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RegistryError(
                    f"cannot create the model registry at {self.root}: {exc.strerror}",
                    "check the path and its permissions, or pass another --registry",
                ) from None
        self._initialise(create)

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

    def _translated_errors(self) -> contextlib.AbstractContextManager[None]:
        return db.translated_errors(self.database, self.timeout)

    @contextlib.contextmanager
    def _init_lock(self) -> Iterator[None]:
        # Creating the file and switching it to WAL must not race: processes opening a fresh
        # registry at once take turns here (SQLite does not wait for the WAL switch's lock).
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

    def _initialise(self, create: bool) -> None:
        if not create:
            self._check()
            return
        with self._init_lock():
            if not self.database.exists():
                with self._translated_errors():
                    db.create(self.database)
                return
            self._check()
            with self._connection() as conn:
                # a copy made with SQLite's backup API (a release snapshot) is not in WAL mode
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")

    def _check(self) -> None:
        """Refuse a file that is not a whole registry, before anything reads or writes it."""
        db.check_header(self.database)
        with self._connection() as conn:
            db.check_contents(conn, self.database)

    # --- reading -----------------------------------------------------------------------------

    def _row_to_version(self, conn: sqlite3.Connection, row: tuple[Any, ...]) -> ModelVersion:
        scores = conn.execute(
            "SELECT test_split_sha256, metrics FROM scores WHERE version = ? "
            "ORDER BY test_split_sha256",
            (row[0],),
        ).fetchall()
        return version_from_row(self.database, row, scores)

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
            where = ""
            args: tuple[int, ...] = ()
            if version is not None:
                self._get(conn, version)
                where, args = "WHERE version = ? OR previous_champion = ?", (version, version)
            rows = conn.execute(
                "SELECT id, at, kind, version, previous_champion, actor, reasons, note "
                f"FROM events {where} ORDER BY id",
                args,
            ).fetchall()
        return [event_from_row(self.database, row) for row in rows]

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
        on_champion: OnChampion | None = None,
    ) -> ReleaseOutcome:
        """Register `candidate`, ask `decide` against the current champion, record the outcome.

        The read of the champion, the decision and its recording share one write lock, so
        concurrent releases are decided one after the other, each against the real champion.
        With `on_champion`, the champion afterwards (changed or not) is handed to it before the
        outcome commits (see OnChampion).
        """
        artifact = store_artifacts(self.root, candidate)
        with self._transaction(write=True) as conn:
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
            after = self._champion(conn)
            if after is not None and on_champion is not None:
                on_champion(after)
            return ReleaseOutcome(self._get(conn, version), new, before, decision, after)

    def promote(
        self, version: int, reason: str, actor: str, on_champion: OnChampion | None = None
    ) -> ModelVersion:
        """Make any registered `version` the champion by hand (an override of the gate);
        `on_champion` gets the new champion before the change commits (see OnChampion)."""
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
            after = self._get(conn, version)
            if on_champion is not None:
                on_champion(after)
            return after

    def rollback(
        self, reason: str, actor: str, on_champion: OnChampion | None = None
    ) -> tuple[ModelVersion, ModelVersion]:
        """Demote the champion to rolled-back and restore the champion before it.

        Returns (demoted, restored). Repeated rollbacks walk further back: rolled-back versions
        are never restored by a rollback (a human can still promote one). `on_champion` gets the
        restored champion before the change commits (see OnChampion).
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
            restored = self._get(conn, row[0])
            if on_champion is not None:
                on_champion(restored)
            return self._get(conn, current.version), restored

    def publish(self, on_champion: OnChampion) -> ModelVersion:
        """Hand the champion to `on_champion` under the write lock, changing nothing: re-writes
        what the champion implies (the serving manifest) while no one can change it."""
        with self._transaction(write=True) as conn:
            champion = self._champion(conn)
            if champion is None:
                raise RegistryError(
                    f"the registry at {self.root} has no champion to serve", PROMOTE_HINT
                )
            on_champion(champion)
            return champion
