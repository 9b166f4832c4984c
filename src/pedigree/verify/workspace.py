"""The scratch workspace a stage is re-run in: its recorded inputs, nothing else of the user's.

Every dependency dvc.lock records is put in place at exactly its recorded hash: from the DVC
cache when the cache has it (outputs of other stages), otherwise from the user's workspace, but
only when the workspace copy still has the recorded hash (code folders, locks and uncached
metrics live in git, not in the cache). params.yaml gets the recorded values of the stage's
params. Everything is copied, never linked, so a stage cannot reach back into the cache or the
user's files.

An append-only log among the deps (the model registry's event folder, which release reads and
appends to) is taken from the working tree even when it has grown since the recorded run: events
are only ever added, and the stage finds its recorded decision in the log (see `rerun`).
"""

from __future__ import annotations

import posixpath
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pedigree.errors import PedigreeError
from pedigree.lineage.capture import REQUIREMENTS_IN
from pedigree.lineage.hashing import Ignore, content_hash
from pedigree.locks import requirement_files
from pedigree.project import PARAMS_FILE, PIPELINES
from pedigree.verify.cache import object_path, read_listing

# Project files a stage run needs besides its deps: the launcher reads dvc.yaml, stages read
# params.yaml and (evaluate, release) dvc.lock, and `stages` must be an importable package.
SUPPORT_FILES = ("dvc.yaml", "dvc.lock", ".dvcignore", "stages/__init__.py")


class VerifyInputError(PedigreeError):
    """A recorded input cannot be put back at its recorded hash."""


@dataclass(frozen=True)
class Locked:
    """A path and the hash dvc.lock records for it."""

    path: str
    md5: str


@dataclass(frozen=True)
class LockedStage:
    """One stage as dvc.lock records its last run."""

    name: str
    cmd: str
    deps: tuple[Locked, ...]
    outs: tuple[Locked, ...]
    params: dict[str, Any]  # params.yaml key -> recorded value


def _locked(items: Any) -> tuple[Locked, ...]:
    return tuple(
        Locked(str(i["path"]), str(i.get("md5") or i.get("hash") or ""))
        for i in items or []
        if isinstance(i, dict) and "path" in i
    )


def locked_stage(name: str, entry: dict[str, Any]) -> LockedStage:
    """A dvc.lock stage entry as a LockedStage; VerifyInputError when it is not a mapping."""
    if not isinstance(entry, dict):
        raise VerifyInputError(
            f"dvc.lock: stages.{name} is not a mapping (found {type(entry).__name__})",
            f"restore dvc.lock from git, or re-run the stage with `pedigree run --stage {name}`",
        )
    cmd = entry.get("cmd", "")
    files = entry.get("params")
    params = files.get(PARAMS_FILE) if isinstance(files, dict) else None
    params = params if isinstance(params, dict) else {}
    return LockedStage(
        name,
        " ".join(cmd) if isinstance(cmd, list) else str(cmd),
        _locked(entry.get("deps")),
        _locked(entry.get("outs")),
        dict(params),
    )


@dataclass(frozen=True)
class Placed:
    """Where an input in the scratch workspace came from."""

    path: str
    md5: str
    source: str  # "cache" | "workspace" | "workspace log" (an append-only log, as it is now)


def _copy_from_cache(cache: Path, item: Locked, target: Path) -> bool:
    if item.md5.endswith(".dir"):
        listing = read_listing(cache, item.md5)
        if listing is None or not all(object_path(cache, e["md5"]).is_file() for e in listing):
            return False
        for entry in listing:
            dest = target / entry["relpath"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(object_path(cache, entry["md5"]), dest)
        target.mkdir(parents=True, exist_ok=True)  # an empty folder is a valid output
        return True
    source = object_path(cache, item.md5)
    if not source.is_file():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return True


def _copy_path(source: Path, target: Path, ignore: Ignore) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(
            source,
            target,
            ignore=lambda d, names: [n for n in names if ignore.ignored(Path(d) / n)],
        )
    else:
        shutil.copyfile(source, target)


def place_input(
    root: Path,
    cache: Path,
    stage: str,
    item: Locked,
    scratch: Path,
    logs: frozenset[str] = frozenset(),
) -> Placed:
    """Put `item` into `scratch` at its recorded hash; VerifyInputError when impossible.

    An item in `logs` (append-only folders) is copied from the working tree as it is now."""
    target = scratch / item.path
    if item.path not in logs and _copy_from_cache(cache, item, target):
        return Placed(item.path, item.md5, "cache")
    ignore = Ignore(root)
    found = content_hash(root / item.path, ignore)
    if found is not None and found.md5 == item.md5:
        _copy_path(root / item.path, target, ignore)
        return Placed(item.path, item.md5, "workspace")
    if found is not None and found.is_dir and item.path in logs:
        _copy_path(root / item.path, target, ignore)
        return Placed(item.path, found.md5, "workspace log")
    now = "missing" if found is None else f"now {found.md5}"
    raise VerifyInputError(
        f"stage '{stage}': input {item.path} as recorded in dvc.lock ({item.md5}) is neither in "
        f"the DVC cache nor in the workspace ({now})",
        "fetch it with `dvc pull`, or check out the commit whose dvc.lock you want to verify "
        "(`git checkout`), or re-run the stage with `pedigree run`",
    )


def _set_key(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = data.get(part)
        if not isinstance(child, dict):
            child = data[part] = {}
        data = child
    data[parts[-1]] = value


def write_params(root: Path, locked: LockedStage, scratch: Path) -> None:
    """params.yaml as the user has it, with the stage's params set to their recorded values."""
    path = root / PARAMS_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    data = data if isinstance(data, dict) else {}
    for key, value in locked.params.items():
        _set_key(data, key, value)
    (scratch / PARAMS_FILE).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def build(
    root: Path, cache: Path, locked: LockedStage, scratch: Path, logs: frozenset[str] = frozenset()
) -> list[Placed]:
    """Fill `scratch` with everything `locked` needs to run; return where each input came from
    (`logs`: the append-only folders, see `place_input`)."""
    # The pipeline specs too (dvc.yaml's source): the scratch folder is then a pedigree project,
    # and release reads its spec's serve section to write the serving manifest.
    specs = sorted((root / PIPELINES).glob("*.yaml")) if (root / PIPELINES).is_dir() else []
    for name in (*SUPPORT_FILES, *(spec.relative_to(root).as_posix() for spec in specs)):
        if (root / name).is_file():
            (scratch / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / name, scratch / name)
    # The requirements.in beside a stage's lock (and what it includes): the record names the
    # versions of the packages it lists, and without it the re-run's record would name none,
    # so every package would show as a difference.
    for dep in locked.deps:
        if dep.path.endswith("requirements.lock"):
            in_file = root / posixpath.dirname(dep.path) / REQUIREMENTS_IN
            for source in requirement_files(in_file):
                rel = source.relative_to(root.resolve())
                (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, scratch / rel)
    write_params(root, locked, scratch)
    return [place_input(root, cache, locked.name, dep, scratch, logs) for dep in locked.deps]


def command(locked: LockedStage) -> list[str]:
    """The stage's recorded command as an argv list."""
    if not locked.cmd.strip():
        raise VerifyInputError(
            f"stage '{locked.name}' has no command in dvc.lock", "re-run it with `pedigree run`"
        )
    return shlex.split(locked.cmd)
