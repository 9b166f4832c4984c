"""The registry's SQLite file: its schema, its creation, and refusing a damaged one.

A registry file is created in one step: the schema is written to a temporary file next to it,
which is renamed into place, so `registry.sqlite` either does not exist or holds the whole
schema. An existing file is never re-initialised: an empty (0-byte) or truncated file, a file
that is not SQLite at all, or a SQLite file without the registry's tables is reported with its
path and how to recover, before anything reads or writes it. SQLite's own "file is not a
database" / "database disk image is malformed" become the same kind of error.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pedigree.errors import RegistryBusyError, RegistryError

SCHEMA_VERSION = 1
DATABASE = "registry.sqlite"
SNAPSHOTS = "snapshots"
STATUSES = ("champion", "challenger", "rejected", "retired", "rolled-back")
HEADER = b"SQLite format 3\x00"
HEADER_SIZE = 100

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
TABLES = ("events", "scores", "versions")


def restore_hint(database: Path) -> str:
    """How to recover from a damaged registry file (the same advice everywhere)."""
    return (
        f"restore {database.name} from a backup, or move it aside to start an empty registry "
        f"(the artifacts/ folder is kept; each release also kept the registry as it found it, "
        f"in {database.parent / SNAPSHOTS}/)"
    )


def damaged(database: Path, what: str) -> RegistryError:
    """The error for a registry file that cannot be used as it is: exit 2, with the fix."""
    return RegistryError(
        f"the registry database {database} is unreadable: {what}", restore_hint(database)
    )


def check_header(database: Path) -> None:
    """Refuse an existing file that cannot be a whole SQLite database: empty, cut short, or
    something else. SQLite would take an empty file for a new database and a truncated one is
    only found when a missing page is read; both must be reported, never rewritten."""
    try:
        size = database.stat().st_size
        with database.open("rb") as handle:
            head = handle.read(HEADER_SIZE)
    except OSError as exc:
        raise damaged(database, f"cannot be read: {exc.strerror}") from None
    if size == 0:
        raise damaged(database, "the database file is empty (0 bytes)")
    if not (head.startswith(HEADER) or HEADER.startswith(head)):
        raise damaged(database, "file is not a database (it has no SQLite header)")
    if len(head) < HEADER_SIZE:
        raise damaged(
            database, f"the database file is truncated ({size} bytes, less than a header)"
        )
    page_size = struct.unpack(">H", head[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    change_counter, pages, valid_for = (
        struct.unpack(">I", head[o : o + 4])[0] for o in (24, 28, 92)
    )
    # The page count in the header is only valid when written by the same change (SQLite >= 3.7).
    # While a WAL file is in use a checkpoint may have written page 1 before extending the file:
    # then SQLite's own quick_check (check_contents) judges instead.
    try:
        in_use = database.with_name(database.name + "-wal").stat().st_size > 0
    except OSError:
        in_use = False
    if pages and valid_for == change_counter and size < pages * page_size and not in_use:
        raise damaged(
            database,
            f"the database file is truncated ({size} bytes; its header says {pages} pages of "
            f"{page_size} bytes)",
        )


@contextlib.contextmanager
def translated_errors(database: Path, timeout: float) -> Iterator[None]:
    """SQLite's errors as RegistryError naming the file: busy (exit 4) or damaged (exit 2)."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        text = str(exc)
        if "locked" in text or "busy" in text:
            raise RegistryBusyError(
                f"the model registry at {database.parent} stayed locked by another process for "
                f"{timeout:g}s",
                "wait for the other release or `pedigree models` command to finish, then try again",
            ) from None
        raise damaged(database, text) from None
    except sqlite3.DatabaseError as exc:
        raise damaged(database, str(exc)) from None


def check_contents(conn: sqlite3.Connection, database: Path) -> None:
    """The open file is a pedigree registry this version understands, and SQLite finds it whole."""
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise RegistryError(
            f"the model registry at {database.parent} has schema version {found}, newer than "
            f"this pedigree understands ({SCHEMA_VERSION})",
            "upgrade pedigree to the version that wrote this registry",
        )
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if found != SCHEMA_VERSION or not set(TABLES) <= tables:
        what = "holds no tables" if not tables else "has other tables"
        raise RegistryError(
            f"{database} is a SQLite database but not a pedigree model registry ({what})",
            "move it aside, or pass --registry with the right folder",
        )
    # quick_check reads every page once: a registry is small, and a damaged page found now is a
    # clear error instead of a failure in the middle of a release
    problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
    if problems != ["ok"]:
        raise damaged(database, "database disk image is malformed: " + "; ".join(problems))


def create(database: Path) -> None:
    """Write a new registry file with the whole schema, in WAL mode, renamed into place.

    The caller holds the registry's init lock and has seen no file at `database`.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{database.name}.", dir=database.parent)
    os.close(fd)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("COMMIT")
            # WAL is a property of the file: set once, then every connection uses it
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()  # the last connection checkpoints and removes the temporary WAL
        os.replace(tmp, database)
    except BaseException:
        for leftover in (tmp, f"{tmp}-wal", f"{tmp}-shm"):
            Path(leftover).unlink(missing_ok=True)
        raise
