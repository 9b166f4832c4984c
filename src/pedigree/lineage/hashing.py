"""Content hashes exactly as DVC records them in dvc.lock (`hash: md5`).

A file's hash is the md5 of its bytes. A folder's hash is the md5 of a JSON listing of its
files (`[{"md5": ..., "relpath": ...}]`, sorted by relpath, keys sorted) with `.dir` appended;
files matched by the project's `.dvcignore` are left out, as DVC leaves them out. Lineage
records use these hashes so that a record and dvc.lock can be compared directly (`audit`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20
DIR_SUFFIX = ".dir"


@dataclass(frozen=True)
class ContentHash:
    """A path's DVC hash, its total size in bytes and (folders only) its file count."""

    md5: str
    size: int
    nfiles: int | None = None

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(DIR_SUFFIX)


def md5_file(path: Path) -> str:
    """Hex md5 of a file's bytes, streamed."""
    digest = hashlib.md5()  # noqa: S324 - DVC's content address, not a security hash
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Ignore:
    """The project's .dvcignore patterns (gitignore syntax), as DVC applies them."""

    def __init__(self, root: Path) -> None:
        import pathspec

        path = root / ".dvcignore"
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        self.root = root.resolve()
        self.spec = pathspec.GitIgnoreSpec.from_lines(lines)

    def relative(self, path: Path) -> str | None:
        """`path` relative to the project root (POSIX), or None when it lies outside."""
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return None

    def matches(self, rel: str, is_dir: bool) -> bool:
        """True when DVC would not see the project-relative path `rel`."""
        return self.spec.match_file(rel + ("/" if is_dir else ""))

    def ignored(self, path: Path) -> bool:
        """True when DVC would not see `path` (a file or folder inside the project)."""
        rel = self.relative(path)
        return rel is not None and self.matches(rel, path.is_dir())


def dir_listing(folder: Path, ignore: Ignore | None = None) -> list[dict[str, str]]:
    """[{"md5", "relpath"}] for every file under `folder`, sorted by relpath, like DVC's."""
    # The folder is resolved once; its files are matched by the relative paths built while
    # walking (resolving each of thousands of files cost ten times the hashing).
    spec = ignore if ignore is not None and ignore.spec.patterns else None
    base = spec.relative(folder) if spec is not None else None
    in_root = "" if base in (None, "", ".") else f"{base}/"
    entries: list[dict[str, str]] = []
    stack = [(folder, "")]
    while stack:
        current, prefix = stack.pop()
        for child in current.iterdir():
            rel = prefix + child.name
            is_dir = child.is_dir()
            if spec is not None and base is not None and spec.matches(in_root + rel, is_dir):
                continue
            if is_dir:
                stack.append((child, rel + "/"))
            elif child.is_file():
                entries.append({"md5": md5_file(child), "relpath": rel})
    return sorted(entries, key=lambda e: e["relpath"])


def listing_hash(entries: list[dict[str, str]]) -> str:
    """The `.dir` hash DVC gives a folder with these entries."""
    data = json.dumps(entries, sort_keys=True).encode("utf-8")
    return hashlib.md5(data).hexdigest() + DIR_SUFFIX  # noqa: S324


def content_hash(path: Path, ignore: Ignore | None = None) -> ContentHash | None:
    """DVC's hash of a file or folder; None when the path does not exist."""
    if path.is_file():
        return ContentHash(md5_file(path), path.stat().st_size)
    if not path.is_dir():
        return None
    entries = dir_listing(path, ignore)
    size = sum((path / e["relpath"]).stat().st_size for e in entries)
    return ContentHash(listing_hash(entries), size, len(entries))
