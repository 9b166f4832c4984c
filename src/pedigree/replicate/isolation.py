"""Keeping the replicates away from the project: their own copy of the upstream outputs, and a
check that the project is as it was.

The replicated stages read upstream outputs (data/prepared, models/tune). Linking the project's
folders into the workspaces would let a stage that writes where it should only read change the
project, and the stage launcher refuses paths that a symlink leads out of the workspace anyway.
So the upstream outputs are copied once into `.pedigree/replicate/upstream/` (again only when
the project's dvc.lock hash of them changed, or the copy was changed) and each workspace gets
hard links to that copy: one copy on disk, whatever the number of seeds, and never an inode the
project's files share.

`project_fingerprint` (size and mtime of the project's lineage/, dvc.lock, params.yaml, the
upstream outputs and the replicated stages' outputs) is taken before and after the seeds run;
`pedigree replicate` refuses to write its summary when anything there changed.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from pedigree.atomic import remove_path, write_atomically
from pedigree.replicate.upstream import Plan

UPSTREAM = "upstream"  # under .pedigree/replicate/: the shared copy of the upstream outputs
MARKS = "copied.json"  # what each copy was made from, and how it looked when made
# The project's own records: a replicate never writes them.
PROJECT_RECORDS = ("lineage", "dvc.lock", "params.yaml")

Stats = dict[str, tuple[int, int]]


def _stat_files(path: Path) -> Iterator[tuple[Path, int, int]]:
    """(file, size, mtime_ns) of `path` or of every file under it; symlinks are not followed."""
    if path.is_symlink() or path.is_file():
        stat = path.lstat()
        yield path, stat.st_size, stat.st_mtime_ns
    elif path.is_dir():
        for item in sorted(path.rglob("*")):
            if item.is_symlink() or item.is_file():
                stat = item.lstat()
                yield item, stat.st_size, stat.st_mtime_ns


def _stats(base: Path, rels: list[str]) -> Stats:
    found: Stats = {}
    for rel in sorted(set(rels)):
        for item, size, mtime in _stat_files(base / rel):
            found[item.relative_to(base).as_posix()] = (size, mtime)
    return found


def project_fingerprint(plan: Plan) -> Stats:
    """Size and mtime of every project file a replicate must not change: the records, the
    upstream outputs it reads, and the outputs of the replicated stages."""
    from pedigree.lineage.capture import read_stage_def

    paths = [*PROJECT_RECORDS, *plan.links]
    for stage in plan.stages:
        paths += read_stage_def(plan.root, stage).outs
    return _stats(plan.root, paths)


def changed_files(before: Stats, after: Stats) -> list[str]:
    """The files added, removed or changed between two fingerprints, sorted."""
    return sorted(rel for rel in before.keys() | after.keys() if before.get(rel) != after.get(rel))


def _replace_with(target: Path, build: Callable[[Path], None]) -> None:
    """Build the new `target` next to it, then swap it in: a crash leaves the old or nothing."""
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    remove_path(partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    build(partial)
    remove_path(target)
    partial.rename(target)


def _copy(source: Path, target: Path) -> None:
    # the bytes, not links: DVC may check outputs out as symlinks into its cache
    if source.is_dir():
        shutil.copytree(source, target, symlinks=False)
    else:
        shutil.copy2(source, target)


def _read_marks(path: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def shared_upstream(plan: Plan) -> Path:
    """The folder holding a current copy of every upstream output of `plan` (copied as needed)."""
    base = plan.root / ".pedigree" / "replicate" / UPSTREAM
    base.mkdir(parents=True, exist_ok=True)
    marks = _read_marks(base / MARKS)
    for rel in plan.links:
        digest = plan.replicated.upstream.get(rel) or plan.replicated.inputs.get(rel) or ""
        mark = marks.get(rel)
        stats = [[k, *v] for k, v in sorted(_stats(base, [rel]).items())]
        if digest and isinstance(mark, dict) and mark == {"md5": digest, "files": stats}:
            continue  # copied from the same content and not changed since
        _replace_with(base / rel, functools.partial(_copy, plan.root / rel))
        copied = [[k, *v] for k, v in sorted(_stats(base, [rel]).items())]
        marks[rel] = {"md5": digest, "files": copied}
    write_atomically(base / MARKS, json.dumps(marks, sort_keys=True))
    return base


def _link_file(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # no hard links here (another file system, a FAT drive): copy it
        shutil.copy2(source, target)


def _link_tree(source: Path, target: Path) -> None:
    if source.is_file():
        _link_file(source, target)
        return
    shutil.copytree(source, target, copy_function=_link_file)  # type: ignore[arg-type]


def place_upstream(shared: Path, target: Path) -> None:
    """Put the shared copy `shared` at `target` in a workspace, as hard links (files are never
    shared with the project: `shared` is replicate's own copy)."""
    if target.exists() and not target.is_symlink() and _same_files(shared, target):
        return
    _replace_with(target, lambda partial: _link_tree(shared, partial))


def _same_files(shared: Path, target: Path) -> bool:
    """`target` holds hard links to exactly the files of `shared`."""
    ours = {p.relative_to(shared): p for p in ([shared] if shared.is_file() else shared.rglob("*"))}
    theirs = {
        p.relative_to(target): p for p in ([target] if target.is_file() else target.rglob("*"))
    }
    if ours.keys() != theirs.keys():
        return False
    return all(
        p.is_dir() == theirs[k].is_dir() and (p.is_dir() or os.path.samefile(p, theirs[k]))
        for k, p in ours.items()
    )
