"""Replace a file in one rename, so readers never see it half-written.

Kept free of heavy imports: `pedigree run` compiles dvc.yaml through it on start-up.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8, LF) in one rename; a crash leaves the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_bytes_or_none(path: Path) -> bytes | None:
    """The file's bytes, or None when it cannot be read (missing, a folder, no permission)."""
    try:
        return path.read_bytes()
    except OSError:
        return None
