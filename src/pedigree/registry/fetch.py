"""Fetching a registered model's files by their recorded hashes (`pedigree models get`).

The registry does not copy models: each version records its model's (and calibration's) DVC md5
and sha256. A file is taken from the project's DVC cache, else pulled from the DVC remote into
the cache, by md5; its sha256 must then be the recorded one, and only then is it copied to the
target, through a temporary file renamed into place: the target is either the verified file or
untouched, never half-written.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pedigree.atomic import sha256_file
from pedigree.errors import RegistryError, ToolError
from pedigree.registry.records import ModelVersion

MD5 = re.compile(r"[0-9a-f]{32}")
SHA256 = re.compile(r"[0-9a-f]{64}")
CHUNK = 1 << 20


@dataclass(frozen=True)
class Fetched:
    """One file written: which of the version's files, where to, from where, and its sha256."""

    role: str  # "model" | "calibration"
    path: Path
    source: str  # "cache" | "remote"
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


def _copy_verified(source: Path, target: Path, sha: str) -> str:
    """Copy `source` to `target` via a temporary file, renamed only when its sha256 is `sha`;
    returns the copy's sha256 (the target is untouched when it differs)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    # mkstemp makes the file private (0600); a fetched model is an ordinary file (umask)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() == sha:
            os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return digest.hexdigest()


def _from_git(root: Path, rel: str, sha: str) -> tuple[Path, str] | None:
    """The file at `rel` with sha256 `sha` from the working tree or a commit: an output DVC does
    not cache (a `cache: false` metric, like a calibration file) lives in git, not the cache."""
    import subprocess

    from pedigree.gitstate import git

    path = root / rel
    if path.is_file() and not path.is_symlink() and sha256_file(path) == sha:
        return path, "working tree"
    revisions = (git(root, "log", "--format=%H", "-n", "50", "--", rel) or "").split()
    for revision in revisions:
        done = subprocess.run(
            ["git", "show", f"{revision}:{rel}"], cwd=root, capture_output=True, check=False
        )
        if done.returncode == 0 and hashlib.sha256(done.stdout).hexdigest() == sha:
            fd, tmp = tempfile.mkstemp(prefix=".pedigree-get-")
            with os.fdopen(fd, "wb") as out:
                out.write(done.stdout)
            return Path(tmp), f"git {revision[:12]}"
    return None


@dataclass(frozen=True)
class Located:
    """Where one of a version's files was found, before anything is written."""

    role: str
    source: Path
    where: str  # "cache", "remote", "working tree" or "git <commit>"
    sha256: str

    @property
    def temporary(self) -> bool:
        """True for a copy taken out of git history (removed once written)."""
        return self.where.startswith("git ")


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
    found = _locate(root, md5, remote)
    if found is None and isinstance(record.get("path"), str):
        found = _from_git(root, record["path"], sha)
    if found is None:
        raise RegistryError(
            f"v{version.version}'s {role} (md5 {md5}, {record.get('path', '?')}) is neither in "
            "the DVC cache, nor on the DVC remote, nor in git; nothing was written",
            "push it from the machine that made it (`dvc push`), or configure the remote that "
            "has it (`dvc remote add -d NAME URL`), then try again",
        )
    return Located(role, found[0], found[1], sha)


def write_located(located: Located, version: ModelVersion, target: Path) -> Fetched:
    """Copy a located file to `target`, verified by its sha256 (target untouched otherwise)."""
    try:
        copied = _copy_verified(located.source, target, located.sha256)
    except OSError as exc:
        raise RegistryError(
            f"cannot write {target}: {exc.strerror or exc}",
            "choose another path with -o, or make its folder writable",
        ) from None
    finally:
        if located.temporary:
            located.source.unlink(missing_ok=True)
    if copied != located.sha256:
        raise RegistryError(
            f"v{version.version}'s {located.role} from the DVC {located.where} "
            f"({located.source}) has sha256 {copied}, not the {located.sha256} the registry "
            "recorded; nothing was written",
            "the DVC object is damaged: remove it and fetch it again (`dvc fetch`), or check "
            "that the remote holds this project's data",
        )
    return Fetched(located.role, target, located.where, located.sha256)


def fetch_file(
    root: Path, version: ModelVersion, role: str, target: Path, remote: str | None = None
) -> Fetched:
    """Write the `role` file of `version` to `target`, verified by its recorded sha256."""
    return write_located(locate_file(root, version, role, remote), version, target)
