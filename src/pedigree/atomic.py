"""Replace a file in one rename, so readers never see it half-written; read a file with a
bound, so a huge file, a FIFO or a device never makes a read endless.

Kept free of heavy imports: `pedigree run` compiles dvc.yaml through it on start-up.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8, LF) in one rename; a crash leaves the old file."""
    write_bytes_atomically(path, text.encode("utf-8"))


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one rename; a crash leaves the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class BoundedReadError(Exception):
    """A file is not read because it is not a regular file or is over the size limit.

    The message says which ("is a FIFO (named pipe), not a regular file", "is over the 1048576
    byte limit"); callers put it into their own located error.
    """


class NotRegularFileError(BoundedReadError):
    """The path is a folder, FIFO, device or socket, not a regular file."""


class TooLargeError(BoundedReadError):
    """The file holds more bytes than the limit."""


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of the regular file `path`, reading at most `limit` + 1 of them.

    Refuses anything but a regular file (NotRegularFileError), so /dev/zero or a FIFO cannot
    make a read endless or hang, and a file over `limit` bytes (TooLargeError), so a huge file is
    never loaded whole. The file is opened non-blocking (opening a FIFO would otherwise wait for
    a writer) and checked on the open descriptor, so it cannot be swapped between the check and
    the read. Other failures (missing, no permission) raise OSError as `open` does.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = next((name for test, name in _KINDS if test(mode)), "a special file")
        raise NotRegularFileError(f"is {kind}, not a regular file")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLargeError(f"is over the {limit} byte limit")
    return data


# Generated files (dvc.yaml, Argo manifests, Dockerfiles) are kilobytes; one far larger, or one
# that is not a regular file, is "not what we generated" without reading it all.
MAX_GENERATED_BYTES = 64 << 20


def read_bytes_or_none(path: Path) -> bytes | None:
    """The file's bytes, or None when it cannot be read (missing, a folder, a FIFO or device,
    no permission, over MAX_GENERATED_BYTES)."""
    try:
        return read_bounded(path, MAX_GENERATED_BYTES)
    except (OSError, BoundedReadError):
        return None


def remove_path(path: Path) -> None:
    """Remove a file, a symlink (never what it points to) or a whole folder; nothing if absent."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
