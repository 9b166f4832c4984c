"""Fetching files by their recorded hashes: a registered model's (`pedigree models get`) and a
serve bundle's (`pedigree serve`).

The registry does not copy models: each version records its model's (and calibration's) DVC md5
and sha256, and a serve bundle records every file the predictor reads the same way (files from
the model's lineage by their md5 alone). A file is taken from the project's DVC cache, else
pulled from the DVC remote into the cache, by md5, else from git (the working tree or a recent
commit: DVC does not cache a `cache: false` output); its hashes must then be the recorded ones,
and only then is it copied to the target, through a temporary file renamed into place: the
target is either the verified file or untouched, never half-written.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pedigree.bundle import CHUNK, MD5, SHA256, BundleFile, ServeBundle, file_digests
from pedigree.errors import PedigreeError, RegistryError, ToolError
from pedigree.registry.records import ModelVersion

GIT_HISTORY = 50  # commits searched for a file DVC does not cache


@dataclass(frozen=True)
class Fetched:
    """One file written: which of the version's files, where to, from where, and its sha256."""

    role: str  # "model" | "calibration" | a spec.serve.files role
    path: Path
    source: str  # "cache" | "remote" | "working tree" | "git <commit>" | "given"
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "role": self.role,
            "path": str(self.path),
            "source": self.source,
            "sha256": self.sha256,
        }


def recorded_file(version: ModelVersion, role: str) -> dict[str, Any] | None:
    """The version's record of its `role` file ({path, md5, size, sha256}), None if it has none."""
    record = version.files.get(role) or {}
    return dict(record) if record.get("md5") or record.get("sha256") else None


def _hashes(version: ModelVersion, role: str, record: dict[str, Any]) -> tuple[str, str]:
    md5, sha = record.get("md5"), record.get("sha256")
    if not isinstance(md5, str) or not MD5.fullmatch(md5):
        raise RegistryError(
            f"v{version.version}'s {role} file has no DVC md5 in the registry",
            "it was registered without its DVC hash (e.g. imported from an old registry whose "
            "copy of the file was gone): take it from the git commit that made it "
            f"({version.git_commit or 'unknown'}) with `dvc checkout`",
        )
    if not isinstance(sha, str) or not SHA256.fullmatch(sha):
        raise RegistryError(
            f"v{version.version}'s {role} file has no sha256 in the registry",
            "the registry event lacks it: restore the event file from git",
        )
    return md5, sha


def _locate(root: Path, md5: str, remote: str | None) -> tuple[Path, str] | None:
    """The cached object `md5` and where it came from; None when neither cache nor remote has it."""
    from pedigree.executors import dvc_private

    try:
        found = dvc_private.cached_object(str(root), md5)
        if found is not None:
            return Path(found), "cache"
        pulled = dvc_private.pull_object(str(root), md5, remote)
    except Exception as exc:  # DVC's errors: no remote configured, remote unreachable, no repo
        if type(exc).__name__ == "NoRemoteError":
            return None
        raise ToolError(
            f"DVC could not fetch object {md5} for {root}: {exc}",
            "check `dvc remote list` and the remote's credentials, then try again",
        ) from None
    return None if pulled is None else (Path(pulled), "remote")


def _matches(digests: tuple[str, str], md5: str | None, sha: str | None) -> bool:
    """True when the (md5, sha256) of some bytes are every recorded hash (at least one)."""
    if md5 is None and sha is None:
        return False
    return (md5 is None or digests[0] == md5) and (sha is None or digests[1] == sha)


def _copy_verified(source: Path, target: Path, md5: str | None, sha: str | None) -> tuple[str, str]:
    """Copy `source` to `target` via a temporary file, renamed only when its hashes are the
    recorded ones; returns the copy's (md5, sha256) (the target is untouched when they differ)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    # mkstemp makes the file private (0600); a fetched model is an ordinary file (umask)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    hashes = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                for digest in hashes:
                    digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        found = (hashes[0].hexdigest(), hashes[1].hexdigest())
        if _matches(found, md5, sha):
            os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return found


def _from_git(root: Path, rel: str, md5: str | None, sha: str | None) -> tuple[Path, str] | None:
    """The file at `rel` with the recorded hashes from the working tree or a commit: an output
    DVC does not cache (a `cache: false` metric, like a calibration file) lives in git, not the
    cache."""
    from pedigree.gitstate import git

    path = root / rel
    if path.is_file() and not path.is_symlink() and _matches(file_digests(path), md5, sha):
        return path, "working tree"
    revisions = (git(root, "log", "--format=%H", "-n", str(GIT_HISTORY), "--", rel) or "").split()
    for revision in revisions:
        done = subprocess.run(
            ["git", "show", f"{revision}:{rel}"], cwd=root, capture_output=True, check=False
        )
        data = done.stdout
        found = (
            hashlib.md5(data, usedforsecurity=False).hexdigest(),
            hashlib.sha256(data).hexdigest(),
        )
        if done.returncode == 0 and _matches(found, md5, sha):
            fd, tmp = tempfile.mkstemp(prefix=".pedigree-get-")
            with os.fdopen(fd, "wb") as out:
                out.write(done.stdout)
            return Path(tmp), f"git {revision[:12]}"
    return None


@dataclass(frozen=True)
class Located:
    """Where one file was found, before anything is written."""

    role: str
    source: Path
    where: str  # "cache", "remote", "working tree", "git <commit>" or "given"
    sha256: str | None  # the recorded sha256 (None: the file is known by its md5 alone)
    md5: str | None = None  # the recorded DVC md5
    label: str = ""  # what the messages call it: "v3's model", "the stats file data/..."

    @property
    def temporary(self) -> bool:
        """True for a copy taken out of git history (removed once written)."""
        return self.where.startswith("git ")


def locate_object(
    root: Path,
    role: str,
    md5: str,
    sha256: str | None,
    path: str | None,
    label: str,
    remote: str | None = None,
) -> Located:
    """Find the file with DVC md5 `md5` (and, when given, sha256 `sha256`): DVC cache, DVC
    remote, then git (working tree or history) at `path`; RegistryError when it is nowhere.
    `label` names it in messages ("v3's model")."""
    found = _locate(root, md5, remote)
    if found is None and path:
        found = _from_git(root, path, md5, sha256)
    if found is None:
        raise RegistryError(
            f"{label} (md5 {md5}, {path or '?'}) is neither in the DVC cache, nor on the DVC "
            "remote, nor in git; nothing was written",
            "push it from the machine that made it (`dvc push`), or configure the remote that "
            "has it (`dvc remote add -d NAME URL`), then try again",
        )
    return Located(role, found[0], found[1], sha256, md5, label)


def locate_file(root: Path, version: ModelVersion, role: str, remote: str | None = None) -> Located:
    """Find the `role` file of `version`: DVC cache, DVC remote, then git (working tree or
    history) by its recorded sha256; RegistryError when it is nowhere."""
    record = recorded_file(version, role)
    if record is None:
        raise RegistryError(
            f"v{version.version} records no {role} file",
            "`pedigree models show` lists what the version records",
        )
    md5, sha = _hashes(version, role, record)
    path = record.get("path") if isinstance(record.get("path"), str) else None
    return locate_object(root, role, md5, sha, path, f"v{version.version}'s {role}", remote)


def _origin(located: Located) -> str:
    """Where a located file came from, in words."""
    if located.where in ("cache", "remote"):
        return f"the DVC {located.where} ({located.source})"
    if located.where == "working tree":
        return f"the working tree ({located.source})"
    return str(located.source) if located.where == "given" else located.where


def _damaged(located: Located) -> str:
    """How to repair a located file whose bytes are not the recorded ones."""
    if located.where == "given":
        return "give the file the registry recorded, or serve a version by number (--version)"
    return (
        "the DVC object is damaged: remove it and fetch it again (`dvc fetch`), or check that "
        "the remote holds this project's data"
    )


def write_located(located: Located, version: ModelVersion | None, target: Path) -> Fetched:
    """Copy a located file to `target`, verified by its recorded hashes (target untouched
    otherwise). `version` is the registered version it belongs to, if any (for messages)."""
    label = located.label or (
        f"v{version.version}'s {located.role}" if version is not None else located.role
    )
    try:
        md5, sha = _copy_verified(located.source, target, located.md5, located.sha256)
    except OSError as exc:
        raise RegistryError(
            f"cannot write {target}: {exc.strerror or exc}",
            "choose another path with -o, or make its folder writable",
        ) from None
    finally:
        if located.temporary:
            located.source.unlink(missing_ok=True)
    if located.sha256 is not None and sha != located.sha256:
        raise RegistryError(
            f"{label} from {_origin(located)} has sha256 {sha}, not the {located.sha256} the "
            "registry recorded; nothing was written",
            _damaged(located),
        )
    if located.md5 is not None and md5 != located.md5:
        raise RegistryError(
            f"{label} from {_origin(located)} has md5 {md5}, not the {located.md5} recorded; "
            "nothing was written",
            _damaged(located),
        )
    return Fetched(located.role, target, located.where, sha)


def fetch_file(
    root: Path, version: ModelVersion, role: str, target: Path, remote: str | None = None
) -> Fetched:
    """Write the `role` file of `version` to `target`, verified by its recorded sha256."""
    return write_located(locate_file(root, version, role, remote), version, target)


# --- a serve bundle: every file the predictor reads ------------------------------------------


def bundle_target(folder: Path, item: BundleFile) -> Path:
    """Where a bundle file goes in `folder`: `<role>/<the basename of its recorded path>` (the
    name keeps its suffix, which loaders read: Keras needs `.keras`; the role keeps two files
    with one name apart)."""
    return folder / item.role / (Path(item.path).name or item.role)


def _label(bundle: ServeBundle, item: BundleFile) -> str:
    return f"{bundle.version_label}'s {item.role} file {item.path}"


def fetch_bundle(
    root: Path,
    bundle: ServeBundle,
    folder: Path,
    given: Mapping[str, Path] | None = None,
    remote: str | None = None,
) -> tuple[Fetched, ...]:
    """Write every file of `bundle` into `folder` (see `bundle_target`), each verified by its
    recorded hashes; `given` maps a role to a local file to take instead of looking it up
    (`pedigree serve --model PATH`), verified the same way. Every file is found before any is
    written; RegistryError (ToolError when DVC cannot reach its remote) when one is missing or
    is not the recorded bytes."""
    given = dict(given or {})
    located: list[tuple[Located, Path]] = []
    try:
        for item in bundle.files:
            label = _label(bundle, item)
            if item.role in given:
                found = Located(
                    item.role, Path(given[item.role]), "given", item.sha256, item.md5, label
                )
            else:
                found = locate_object(
                    root, item.role, item.md5, item.sha256, item.path, label, remote
                )
            located.append((found, bundle_target(folder, item)))
    except PedigreeError:
        for found, _ in located:
            if found.temporary:
                found.source.unlink(missing_ok=True)
        raise
    written: list[Fetched] = []
    for index, (found, target) in enumerate(located):
        try:
            written.append(write_located(found, None, target))
        except PedigreeError:
            for rest, _ in located[index + 1 :]:
                if rest.temporary:
                    rest.source.unlink(missing_ok=True)
            raise
    return tuple(written)
