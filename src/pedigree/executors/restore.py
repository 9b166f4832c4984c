"""Putting a failed stage's previous outputs back, so a failed run leaves the last good ones.

DVC deletes a stage's outputs before it runs the stage's command. When the command then fails
(or is interrupted), the workspace would be left without them. dvc.lock still records the
previous outputs' hashes, so cached outputs come back from the DVC cache; outputs DVC does not
cache (`cache: false` metrics and plots) cannot, so a copy of them is kept before the stage runs
(`OutputKeeper`) and put back from there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pedigree.atomic import remove_path
from pedigree.dvclock import read_lock_stages

KEEP_DIR = Path(".pedigree") / "keep"


@dataclass(frozen=True)
class StageOut:
    """One output as dvc.yaml declares it."""

    path: str  # relative to the project root, POSIX
    cached: bool  # DVC keeps it in its cache
    persist: bool  # DVC does not delete it before the stage runs


@dataclass(frozen=True)
class RestoreNote:
    """What was put back after a stage failed."""

    from_cache: tuple[str, ...] = ()
    from_copy: tuple[str, ...] = ()  # non-cached outputs, from the copy kept before the run
    absent: tuple[str, ...] = ()  # no previous version to put back
    error: str | None = None  # restoring itself failed

    def sentence(self) -> str:
        """One clause for the failure message ('' when nothing needed saying)."""
        parts = []
        sources = []
        if self.from_cache:
            sources.append("from the cache: " + ", ".join(self.from_cache))
        if self.from_copy:
            sources.append("from the copy kept before the run: " + ", ".join(self.from_copy))
        if sources:
            parts.append("its previous outputs were restored " + ", and ".join(sources))
        if self.absent:
            parts.append("absent, with no previous version to restore: " + ", ".join(self.absent))
        if self.error:
            parts.append(f"its previous outputs could not be restored: {self.error}")
        return "; ".join(parts)


def _inside(root: Path, rel: str) -> Path | None:
    """`root / rel` when it stays inside the project after resolving symlinks, else None."""
    path = root / rel
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return path


def _copy_tree(source: Path, target: Path) -> None:
    """Copy a file or folder (real copies: a stage or tool writing in place must not reach
    the kept bytes through a shared hard link)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    else:
        shutil.copy2(source, target, follow_symlinks=False)


def _same_file(copy: Path, target: Path) -> bool:
    """True when both are regular files with the same bytes."""
    if not (copy.is_file() and target.is_file()) or target.is_symlink():
        return False
    return copy.stat().st_size == target.stat().st_size and copy.read_bytes() == target.read_bytes()


class OutputKeeper:
    """Copies of the non-cached outputs of the stage about to run, under .pedigree/keep/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / KEEP_DIR
        self.kept: dict[str, tuple[str, ...]] = {}

    def keep(self, stage: str, outs: tuple[StageOut, ...]) -> None:
        """Keep a copy of `stage`'s existing non-cached outputs (DVC is about to delete them)."""
        self.discard(stage)
        kept = []
        for out in outs:
            if out.cached or out.persist:
                continue
            source = _inside(self.root, out.path)
            if source is None or not (source.exists() or source.is_symlink()):
                continue
            _copy_tree(source, self.folder / stage / out.path)
            kept.append(out.path)
        self.kept[stage] = tuple(kept)

    def put_back(self, stage: str) -> tuple[str, ...]:
        """Replace `stage`'s non-cached outputs with the kept copies; return their paths."""
        restored = []
        for rel in self.kept.get(stage, ()):
            target = _inside(self.root, rel)
            copy = self.folder / stage / rel
            if target is None or not copy.exists():
                continue
            if _same_file(copy, target):
                continue  # never deleted nor changed: nothing to put back
            remove_path(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(copy, target)
            restored.append(rel)
        return tuple(restored)

    def discard(self, stage: str) -> None:
        """Drop the copies of `stage` (it succeeded, or they were put back)."""
        self.kept.pop(stage, None)
        shutil.rmtree(self.folder / stage, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.folder.rmdir()  # only when empty


def _lock_outs(root: Path, stage: str) -> set[str]:
    entry = read_lock_stages(root / "dvc.lock").get(stage)
    outs = entry.get("outs") if isinstance(entry, dict) else None
    return {str(o["path"]) for o in outs or [] if isinstance(o, dict) and "path" in o}


def _rel(root: Path, path: str) -> str:
    return Path(os.path.relpath(path.rstrip("/\\"), root)).as_posix()


def restore_outputs(
    root: Path, stage: str, outs: tuple[StageOut, ...], keeper: OutputKeeper, repo: Any
) -> RestoreNote:
    """Put `stage`'s previous outputs back: cached ones from the DVC cache at the hashes
    dvc.lock records, non-cached ones from the kept copy. `repo` is a DVC Repo of `root`,
    opened after the failed run (the working directory must be `root`)."""
    from dvc.exceptions import CheckoutError, DvcException

    from_copy = keeper.put_back(stage)
    keeper.discard(stage)
    recorded = _lock_outs(root, stage)
    targets = [o.path for o in outs if o.cached and not o.persist and o.path in recorded]
    from_cache: tuple[str, ...] = ()
    error = None
    if targets:
        try:
            result = repo.checkout(targets=targets, force=True)
        except CheckoutError as exc:
            result = exc.result or {}  # the outputs the cache lacks are named in the message
        except DvcException as exc:
            result, error = {}, str(exc)
        changed = {_rel(root, p) for key in ("added", "modified") for p in result.get(key, [])}
        from_cache = tuple(p for p in targets if p in changed)
    # What is still missing had no previous version (never run, or not in the cache).
    absent = tuple(o.path for o in outs if not o.persist and not _exists(root, o.path))
    return RestoreNote(from_cache, from_copy, absent, error)


def _exists(root: Path, rel: str) -> bool:
    path = root / rel
    return path.exists() or path.is_symlink()
