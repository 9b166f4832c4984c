"""Content-addressed model storage: artifacts/<sha256>/model.keras, written atomically.

A model is stored under its own hash, so the same model is stored once however often it is
released, and a path names exactly one set of bytes (the serving manifest relies on that).
Every copy goes to a temporary name in the target folder, is fsynced and then renamed: a crash
leaves a stray `.model.keras.*` temp file, never a truncated model under the final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

from pedigree.errors import RegistryError
from pedigree.registry.records import Candidate
from pedigree.stagekit import sha256_file

ARTIFACTS = "artifacts"
MODEL_FILE = "model.keras"
CALIBRATION_FILE = "calibration.json"
SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20


def store_artifacts(root: Path, candidate: Candidate) -> str:
    """Copy the model (and calibration) into root/artifacts/<sha256>/, verified, atomically.

    Returns the model's path relative to `root`. A model already stored with the right bytes is
    not copied again; the copy's own sha256 must equal the candidate's, else RegistryError.
    """
    sha = candidate.model_sha256
    if not SHA256.fullmatch(sha):  # `$` alone would accept a final newline
        raise RegistryError(
            f"'{sha}' is not a sha256 (64 lowercase hex characters)",
            "pass the hex digest of the model file, e.g. from pedigree.stagekit.sha256_file",
        )
    folder = root / ARTIFACTS / sha
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / MODEL_FILE
    if not (target.is_file() and sha256_file(target) == sha):
        copied = _copy_atomically(candidate.model_path, target, expect=sha)
        if copied != sha:
            raise RegistryError(
                f"model {candidate.model_path} has sha256 {copied}, not the {sha} it was "
                "registered with",
                "the file changed after it was hashed: re-run the stage that wrote it",
            )
    calibration = candidate.calibration_path
    # the first calibration stored with a model stays, like the first registration's record
    if calibration is not None and not (folder / CALIBRATION_FILE).is_file():
        _copy_atomically(calibration, folder / CALIBRATION_FILE, expect=None)
    return f"{ARTIFACTS}/{sha}/{MODEL_FILE}"


def _copy_atomically(source: Path, target: Path, expect: str | None) -> str:
    """Copy `source` to `target` via a temp file, fsync and rename; return the copy's sha256.

    With `expect`, a copy whose hash differs is deleted instead of renamed into place.
    """
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, Path(source).open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if expect is not None and digest.hexdigest() != expect:
            Path(tmp).unlink(missing_ok=True)
            return digest.hexdigest()
        os.replace(tmp, target)
    except FileNotFoundError:
        Path(tmp).unlink(missing_ok=True)
        raise RegistryError(
            f"cannot store {source} in the registry: the file does not exist",
            "check the path the release stage passes",
        ) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)
    return digest.hexdigest()


def _fsync_folder(folder: Path) -> None:
    # the rename is durable only once the folder entry is on disk (POSIX; a no-op elsewhere)
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
