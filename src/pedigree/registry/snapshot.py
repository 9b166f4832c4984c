"""Copies of the registry database as a release saw it, so the decision can be replayed.

release reads state that outlives runs (the champion), so re-running it against today's
registry would not reproduce yesterday's decision. The database is copied, with SQLite's backup
API, inside the release's own write transaction (the exact state the gate decided on), into
`<registry>/snapshots/<sha256>.sqlite`; the stage's lineage record names the copy, and
`pedigree verify` replays the release against it.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

SNAPSHOTS = "snapshots"


def backup(database: Path, target: Path, timeout: float) -> None:
    """Copy the committed state of `database` to the file `target`.

    Called while the caller's own connection holds the write lock (BEGIN IMMEDIATE) and has
    written nothing yet: a second connection then reads exactly the state the caller decides on
    (WAL readers are never blocked by the writer), and no one can commit in between. Backing up
    from the writing connection itself would wait on its own lock for ever.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(database, timeout=timeout)
    dest = sqlite3.connect(target)
    try:
        source.backup(dest)
    finally:
        dest.close()
        source.close()


def keep(registry_root: Path, copy: Path) -> tuple[Path, str]:
    """Move a backup to its content address under the registry; return (path, sha256)."""
    digest = hashlib.sha256(copy.read_bytes()).hexdigest()
    final = registry_root / SNAPSHOTS / f"{digest}.sqlite"
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(copy, final)
    return final, digest
