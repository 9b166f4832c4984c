"""Files for git that a cluster step writes travel home through the DVC remote.

Some stages write files that belong in git rather than in DVC: release appends event files to
the model registry (`registry/<pipeline>/events/`) and rewrites the serving manifest
(`cluster-conf/serving/<pipeline>.yaml`). A pod's checkout is gone when the pod is, so after the
stage succeeded the step copies every file the run added or changed in the git work tree to the
DVC remote, next to the outputs, the run-cache and the lineage records:

  <remote>/pedigree/files/<run>/blobs/<sha256>    each file's bytes, by content
  <remote>/pedigree/files/<run>/<stage>.json      the step's list: path, sha256 and size

Left out: what `pedigree pull` remakes itself (dvc.lock from the run-cache, `lineage/` from the
lineage records, the `.gitignore` files DVC writes) and DVC's outputs; and, with a warning,
anything in the project's code, specs or tools' files (`KEPT_OUT`), which no stage may change.
The list is written last and a retried step replaces it, so it names exactly the files of the
attempt that succeeded.

`pedigree pull RUN` puts the files in place before DVC restores the stages: release's
run-cache entry is keyed by the registry the step left behind. Each file is checked against its
sha256 (byte-identical to the pod's), must stay inside the project, and never replaces a local
change; a failed pull takes them out again. The user commits them with dvc.lock and lineage/.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pedigree.atomic import BoundedReadError, read_bounded, write_bytes_atomically
from pedigree.cluster.records import RemoteFolder, check_run_name
from pedigree.dvclock import read_lock_stages
from pedigree.errors import PedigreeError
from pedigree.graph import is_within
from pedigree.spec.owned import PROTECTED, PROTECTED_NAMES, protected_clash

PREFIX = ("pedigree", "files")
SCHEMA = "pedigree/step-files/v1"
BLOBS = "blobs"
# Files for git are small (an event file is at most 1 MiB, a manifest a few KiB); far more is
# not what a stage should leave for git, and a pull reads each one whole.
MAX_FILE_BYTES = 16 << 20
MAX_FILES = 1000
MAX_LIST_BYTES = 1 << 20
# What pull remakes itself: dvc.lock (from the run-cache) and lineage/ (from the records).
REMADE = ("dvc.lock", "lineage")
# Where a step's files may not go: the project's code, specs and the tools' own files. The
# cluster configuration is allowed: the serving manifest lives in it.
KEPT_OUT = {p: what for p, what in PROTECTED.items() if p not in ("cluster-conf", *REMADE)}


class StepFilesError(PedigreeError):
    """A step's files for git cannot be sent home or put in place as they are."""


@dataclass(frozen=True)
class StepFile:
    """One file a step wrote for git: its project path, sha256 and size."""

    path: str
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"path": self.path, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True)
class Published:
    """What a step sent home: the files, and the changed files it left out (with why)."""

    files: tuple[StepFile, ...]
    left_out: tuple[str, ...]


def _relative(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and "\\" not in path and all(p not in ("", ".", "..") for p in parts)


def _dvc_outputs(root: Path) -> tuple[str, ...]:
    """Every output path (outs, metrics, plots) of the project's dvc.yaml."""
    found: list[str] = []
    for entry in read_lock_stages(root / "dvc.yaml").values():
        for field in ("outs", "metrics", "plots"):
            items = entry.get(field) if isinstance(entry, dict) else None
            for item in items if isinstance(items, list) else []:
                if isinstance(item, str):
                    found.append(item)
                elif isinstance(item, dict):
                    found.extend(str(key) for key in item)
    return tuple(found)


def remade(path: str, outputs: tuple[str, ...]) -> bool:
    """True for a file pull makes itself or DVC owns: dvc.lock, lineage/, a `.gitignore` DVC
    writes next to an output, and the outputs themselves."""
    if any(is_within(path, p) for p in REMADE):
        return True
    return path.split("/")[-1] in PROTECTED_NAMES or any(is_within(path, o) for o in outputs)


def refusal(path: str) -> str | None:
    """Why a step's file may not travel to `path` (the end of a sentence naming it), else None."""
    if not _relative(path):
        return " is not a relative path inside the project"
    return protected_clash(path, KEPT_OUT)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path, rel: str) -> bytes:
    try:
        return read_bounded(path, MAX_FILE_BYTES)
    except BoundedReadError as exc:
        raise StepFilesError(
            f"{rel} {exc}: it cannot travel home as a file for git",
            "write large or special files as DVC outputs of the stage (outs in the spec)",
        ) from None
    except OSError as exc:
        raise StepFilesError(
            f"cannot read {rel}: {exc.strerror or exc}", "check the file's permissions"
        ) from None


def work_tree_changes(root: Path, env: Mapping[str, str]) -> dict[str, str]:
    """Files git sees added or changed in the work tree at `root` (untracked ones too, ignored
    ones not, deleted ones not): project path -> sha256 of the bytes."""
    argv = ["git", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"]
    try:
        done = subprocess.run(
            argv, cwd=root, env=dict(env), capture_output=True, timeout=120, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        done = subprocess.CompletedProcess(argv, 1, b"", str(exc).encode())
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
        raise StepFilesError(
            f"cannot list the files the stage changed in {root} (git status: {said})",
            "the step runs in a git checkout of the project (Argo's source artifact), with git "
            "installed in the image (images/base/Dockerfile installs it)",
        )
    changes: dict[str, str] = {}
    for entry in done.stdout.split(b"\0"):
        if len(entry) < 4 or b"D" in entry[:2]:
            continue
        rel = entry[3:].decode("utf-8", "surrogateescape")
        path = root / rel
        if path.is_symlink() or not path.is_file():
            continue
        changes[rel] = _sha256(_read(path, rel))
    return changes


class RemoteFiles(RemoteFolder):
    """The files-for-git folder of one DVC remote (the project's default one unless named)."""

    def __init__(self, root: Path, remote: str | None = None) -> None:
        super().__init__(root, remote, PREFIX, "pedigree step files")

    def _list_path(self, run: str, stage: str) -> str:
        return str(self.fs.join(self.base, check_run_name(run), f"{stage}.json"))

    def _blob(self, run: str, sha256: str) -> str:
        return str(self.fs.join(self.base, run, BLOBS, sha256))

    def publish(self, run: str, stage: str, paths: list[str]) -> tuple[StepFile, ...]:
        """Copy the files at `paths` (project paths) under `run`, then their list for `stage`."""
        if len(paths) > MAX_FILES:
            raise StepFilesError(
                f"stage '{stage}' changed {len(paths)} files for git, more than {MAX_FILES}",
                "write such files as DVC outputs of the stage (outs in the spec)",
            )
        files = []
        with self.using("copy the step's files for git to"):
            self.fs.makedirs(self.fs.join(self.base, check_run_name(run), BLOBS), exist_ok=True)
            for rel in sorted(paths):
                data = _read(self.root / rel, rel)
                file = StepFile(rel, _sha256(data), len(data))
                blob = self._blob(run, file.sha256)
                if not self.fs.exists(blob):
                    self.fs.pipe_file(blob, data)
                files.append(file)
            listing: dict[str, Any] = {"schema": SCHEMA, "run": run, "stage": stage}
            listing["files"] = [f.to_dict() for f in files]
            text = json.dumps(listing, indent=2, sort_keys=True) + "\n"
            self.fs.pipe_file(self._list_path(run, stage), text.encode("utf-8"))
        return tuple(files)

    def listing(self, run: str, stage: str) -> tuple[StepFile, ...]:
        """The files the step of `stage` in `run` sent home; () when it sent no list."""
        where = self._list_path(run, stage)
        with self.using("read the step's list of files for git in"):
            if not self.fs.exists(where):
                return ()
            if int(self.fs.info(where).get("size") or 0) > MAX_LIST_BYTES:
                raise _bad_list(where, f"is larger than {MAX_LIST_BYTES} bytes")
            raw = self.fs.cat_file(where)
        return parse_listing(raw, where, stage)

    def fetch(self, run: str, file: StepFile) -> bytes:
        """The bytes of `file`, checked against its size and sha256."""
        blob = self._blob(check_run_name(run), file.sha256)
        with self.using("copy the step's files for git from"):
            size = int(self.fs.info(blob).get("size") or 0) if self.fs.exists(blob) else -1
            data = self.fs.cat_file(blob) if 0 <= size <= MAX_FILE_BYTES else b""
        if size != file.size or len(data) != file.size or _sha256(data) != file.sha256:
            raise StepFilesError(
                f"{file.path}: the copy in the DVC remote ({self.url}) is missing or is not the "
                "file the step wrote (its size or sha256 differs)",
                "the remote was changed after the run: run the pipeline again on the cluster",
            )
        return data


def _bad_list(where: str, what: str) -> StepFilesError:
    return StepFilesError(
        f"{where}: the step's list of files for git {what}",
        "it is written by the cluster step and never edited: run the pipeline again",
    )


def parse_listing(raw: bytes, where: str, stage: str) -> tuple[StepFile, ...]:
    """The files of a step's list (its bytes); StepFilesError naming the list when invalid."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _bad_list(where, "is not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or doc.get("stage") != stage:
        raise _bad_list(where, f"is not a {SCHEMA} list for stage '{stage}'")
    items = doc.get("files")
    if not isinstance(items, list) or len(items) > MAX_FILES:
        raise _bad_list(where, f"[files] must be a list of at most {MAX_FILES} entries")
    files = []
    for i, item in enumerate(items):
        try:
            file = StepFile(str(item["path"]), str(item["sha256"]), int(item["size"]))
        except (TypeError, KeyError, ValueError):
            raise _bad_list(where, f"[files][{i}] needs path, sha256 and size") from None
        why = refusal(file.path)
        if why is not None:
            raise _bad_list(where, f"[files][{i}] names '{file.path}', which{why}")
        files.append(file)
    return tuple(files)


def watch(
    root: Path, run: str, stage: str, remote: str, env: Mapping[str, str]
) -> Callable[[], Published]:
    """Note the work tree now; the function returned sends home what changed since (call it
    once the stage succeeded)."""
    before = work_tree_changes(root, env)

    def publish() -> Published:
        outputs = _dvc_outputs(root)
        after = work_tree_changes(root, env)
        changed = sorted(p for p, digest in after.items() if before.get(p) != digest)
        keep, left_out = [], []
        for rel in changed:
            if remade(rel, outputs):
                continue
            why = refusal(rel)
            if why is None:
                keep.append(rel)
            else:
                left_out.append(f"{rel}{why}")
        with RemoteFiles(root, remote) as files:
            sent = files.publish(run, stage, keep)
        return Published(sent, tuple(left_out))

    return publish


def _inside(root: Path, rel: str) -> bool:
    """True when `rel`'s folder, symlinks resolved, is inside the project and the file itself
    is not a symlink."""
    target = root / rel
    real_root = os.path.realpath(root)
    parent = os.path.realpath(target.parent)
    return not target.is_symlink() and is_within(Path(parent).as_posix(), real_root)


@contextlib.contextmanager
def placed(
    root: Path, files: list[tuple[StepFile, bytes]], changed_here: Callable[[str], bool]
) -> Iterator[list[str]]:
    """Write the step files into the project at `root`, yielding the paths whose bytes changed;
    if the body raises, every file is put back as it was.

    `changed_here(path)` says whether the project holds a change of its own to `path` (not
    committed): such a file is never replaced (StepFilesError), nor is anything reached through
    a symlink or outside the project.
    """
    outputs = _dvc_outputs(root)
    plan: list[tuple[str, bytes, bytes | None]] = []
    for file, data in files:
        why = refusal(file.path)
        if why is None and remade(file.path, outputs):
            why = " is made by DVC or by pull itself"
        if why is None and not _inside(root, file.path):
            why = " leads out of the project through a symlink"
        if why is not None:
            raise StepFilesError(
                f"the run's file '{file.path}'{why}: it is not put in place",
                "the remote's list of step files was altered: run the pipeline again",
            )
        target = root / file.path
        before = _read(target, file.path) if target.exists() else None
        if before == data:
            continue
        if before is not None and changed_here(file.path):
            raise StepFilesError(
                f"{file.path} has changes here that are not committed; the run wrote it too",
                f"commit or set aside your change to {file.path} (`git diff {file.path}`), then "
                "pull again",
            )
        plan.append((file.path, data, before))
    written: list[tuple[str, bytes | None]] = []
    try:
        for rel, data, before in plan:
            written.append((rel, before))
            write_bytes_atomically(root / rel, data)
        yield [rel for rel, _, _ in plan]
    except BaseException:
        for rel, before in reversed(written):
            if before is None:
                (root / rel).unlink(missing_ok=True)
            else:
                write_bytes_atomically(root / rel, before)
        raise


def git_add_paths(paths: list[str]) -> list[str]:
    """`paths` as a `git add` line names them: files sharing a folder by their folder."""
    folders: dict[str, list[str]] = {}
    for rel in sorted(paths):
        folders.setdefault(rel.rsplit("/", 1)[0] if "/" in rel else "", []).append(rel)
    named: list[str] = []
    for folder, members in folders.items():
        named.extend([folder] if folder and len(members) > 1 else members)
    return named
