"""Folders that travel between a cluster's pods through the DVC remote, as tar archives.

Some work leaves results that are neither DVC outputs nor files for git: a fold run of
`pedigree replicate --folds` leaves a whole scratch workspace (its outputs and its own lineage
records), which the gather step and `pedigree pull` need back. A step packs such a folder and
copies it to

  <remote>/pedigree/<kind>/<run>/<name>.tar     the folder, regular files only, sorted
  <remote>/pedigree/<kind>/<run>/<name>.json    its sha256 and size, written after the tar
  <remote>/pedigree/<kind>/<run>/manifest.json  what the run made, written last by its last step

Unpacking checks the sha256, refuses any member that is not a plain file or folder or that
would land outside the target, and replaces the target folder only once everything is out.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pedigree.cluster.records import RemoteFolder, check_run_name
from pedigree.errors import PedigreeError

MANIFEST = "manifest.json"
SCHEMA = "pedigree/archive/v1"


class ArchiveError(PedigreeError):
    """A folder cannot be packed, found or unpacked as it is."""


@dataclass(frozen=True)
class Archive:
    """One packed folder in the remote: its name, sha256 and size in bytes."""

    name: str
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"schema": SCHEMA, "name": self.name, "sha256": self.sha256, "size": self.size}


def _excluded(rel: str, exclude: Iterable[str]) -> bool:
    return any(rel == e or rel.startswith(e.rstrip("/") + "/") for e in exclude)


def pack(folder: Path, target: Path, exclude: Iterable[str] = ()) -> list[str]:
    """Write `folder`'s regular files (not those under the relative paths in `exclude`) to the
    tar `target`, sorted, with fixed owners and times; the files packed."""
    skip = tuple(exclude)
    packed: list[str] = []
    with tarfile.open(target, "w") as tar:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink() or not path.is_file() or _excluded(rel, skip):
                continue
            info = tar.gettarinfo(str(path), arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            with path.open("rb") as handle:
                tar.addfile(info, handle)
            packed.append(rel)
    return packed


def _safe_members(tar: tarfile.TarFile, where: str) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for member in members:
        parts = PurePosixPath(member.name).parts
        if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in parts:
            raise ArchiveError(
                f"{where} holds '{member.name}', which is not a plain file inside the folder",
                "the archive was not written by pedigree; remove it from the remote",
            )
    return members


def unpack(archive: Path, target: Path, where: str) -> None:
    """Replace the folder `target` with `archive`'s files (all or nothing)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with tarfile.open(archive, "r") as tar:
            members = _safe_members(tar, where)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(scratch, members=members, filter="data")
            else:  # Python 3.11 before 3.11.4 (Debian 12's): the members are checked above
                tar.extractall(scratch, members=members)
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            os.replace(target, old)
        os.replace(scratch, target)
        shutil.rmtree(old, ignore_errors=True)
    except (OSError, tarfile.TarError) as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        raise ArchiveError(f"cannot unpack {where}: {exc}") from None
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RemoteArchives(RemoteFolder):
    """The archives of one kind (`replicate`) under a DVC remote (the default one unless
    named)."""

    def __init__(self, root: Path, kind: str, remote: str | None = None) -> None:
        super().__init__(root, remote, ("pedigree", kind), f"pedigree {kind} archives")

    def _path(self, run: str, name: str) -> str:
        return str(self.fs.join(self.base, check_run_name(run), name))

    def put(self, run: str, name: str, folder: Path, exclude: Iterable[str] = ()) -> Archive:
        """Pack `folder` and copy it to the remote as `name` of `run`."""
        with tempfile.TemporaryDirectory(prefix="pedigree-archive-") as tmp:
            tar = Path(tmp) / f"{name}.tar"
            pack(folder, tar, exclude)
            archive = Archive(name, _sha256(tar), tar.stat().st_size)
            with self.using("copy an archive to"):
                self.fs.makedirs(self.fs.join(self.base, check_run_name(run)), exist_ok=True)
                self.fs.put_file(str(tar), self._path(run, f"{name}.tar"))
                # the description last: an archive without one is an interrupted copy
                self.fs.pipe_file(
                    self._path(run, f"{name}.json"), json.dumps(archive.to_dict()).encode()
                )
        return archive

    def get(self, run: str, name: str, target: Path) -> Archive:
        """Replace the folder `target` with archive `name` of `run`, checked against its
        sha256; ArchiveError when it is missing or not what its description says."""
        where = f"{self.url}/{run}/{name}.tar"
        with self.using("read an archive from"):
            if not self.fs.exists(self._path(run, f"{name}.json")):
                raise ArchiveError(
                    f"{where} is not in the DVC remote (or its copy did not finish)",
                    f"check that run '{run}' finished every step (`pedigree status {run}`)",
                )
            described = json.loads(self.fs.cat_file(self._path(run, f"{name}.json")))
        with tempfile.TemporaryDirectory(prefix="pedigree-archive-") as tmp:
            tar = Path(tmp) / f"{name}.tar"
            with self.using("read an archive from"):
                self.fs.get_file(self._path(run, f"{name}.tar"), str(tar))
            archive = Archive(name, _sha256(tar), tar.stat().st_size)
            if not isinstance(described, dict) or described.get("sha256") != archive.sha256:
                raise ArchiveError(
                    f"{where} does not match its description (sha256 {archive.sha256[:12]})",
                    "the copy is damaged or was changed: run the step again",
                )
            unpack(tar, target, where)
        return archive

    def write_manifest(self, run: str, doc: dict[str, Any]) -> None:
        """Write `run`'s manifest (what the run made); written last, by its last step."""
        with self.using("write a manifest to"):
            self.fs.makedirs(self.fs.join(self.base, check_run_name(run)), exist_ok=True)
            text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
            self.fs.pipe_file(self._path(run, MANIFEST), text.encode())

    def read_manifest(self, run: str) -> dict[str, Any] | None:
        """`run`'s manifest, or None when the run left none (it is another kind of run, or
        did not finish)."""
        path = self._path(run, MANIFEST)
        with self.using("read a manifest from"):
            if not self.fs.exists(path):
                return None
            raw = self.fs.cat_file(path)
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise ArchiveError(f"{self.url}/{run}/{MANIFEST} is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise ArchiveError(f"{self.url}/{run}/{MANIFEST} is not a JSON object")
        return doc
