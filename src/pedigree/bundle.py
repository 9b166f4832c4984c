"""A serve bundle: everything one model server needs, each file pinned by its content hash.

Both ways of serving read the same description. `pedigree serve` builds it from the model
registry and the model's lineage and fetches the files locally; the serving image gets it as
JSON in the environment variable `PEDIGREE_SERVE_BUNDLE` (written into the serving manifest by
`pedigree release`/`pedigree models`) and fetches the files by their URIs. Either way every file
is hashed before the server reports ready, and a file that is not the recorded bytes stops it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pedigree.envvars import SERVE_BUNDLE_ENV
from pedigree.errors import ServeError

BUNDLE_ENV = SERVE_BUNDLE_ENV
MODEL = "model"  # the role of the model file in every bundle
CALIBRATION = "calibration"
MD5 = re.compile(r"[0-9a-f]{32}")
SHA256 = re.compile(r"[0-9a-f]{64}")
CHUNK = 1 << 20


@dataclass(frozen=True)
class BundleFile:
    """One file: its role for the predictor, the project path it was recorded at, its DVC md5
    (its address in the DVC cache and remote) and, where recorded, its sha256 and size."""

    role: str
    path: str
    md5: str
    sha256: str | None = None
    size: int | None = None
    uri: str | None = None  # where a pod fetches it (a DVC remote object or a mounted path)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (keys with no value left out)."""
        out: dict[str, Any] = {"role": self.role, "path": self.path, "md5": self.md5}
        for key in ("sha256", "size", "uri"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True)
class ServeBundle:
    """A servable model: pipeline, registry version (None: not registered), the predictor
    module, its files and the params sections it reads (from the model's lineage)."""

    pipeline: str
    version: int | None
    predictor: str
    files: tuple[BundleFile, ...]
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> BundleFile:
        """The model file (every bundle has one)."""
        return self.file(MODEL)

    @property
    def model_sha256(self) -> str:
        """The served model's sha256: its identity in the registry and every response."""
        sha = self.model.sha256
        if sha is None:  # from_dict refuses this; a bundle built in code must keep to it too
            raise ServeError("the bundle's model has no sha256", "report this as a bug")
        return sha

    @property
    def version_label(self) -> str:
        """`v3`, or `unregistered` for a model the registry does not hold."""
        return "unregistered" if self.version is None else f"v{self.version}"

    def file(self, role: str) -> BundleFile:
        """The file playing `role` (ServeError when the bundle has none)."""
        for item in self.files:
            if item.role == role:
                return item
        raise ServeError(f"the serve bundle has no {role} file", "rebuild it from the registry")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; `from_dict` reads it back."""
        return {
            "pipeline": self.pipeline,
            "version": self.version,
            "predictor": self.predictor,
            "files": [f.to_dict() for f in self.files],
            "params": dict(self.params),
        }

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): equal bundles give equal text."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Any, where: str = BUNDLE_ENV) -> ServeBundle:
        """Read and check the JSON form; ServeError saying what is wrong and where."""
        if not isinstance(data, dict):
            raise ServeError(f"{where} is not a JSON object", _HINT)
        try:
            files = tuple(_file(item, where) for item in data["files"])
            version = data.get("version")
            if version is not None and (not isinstance(version, int) or version < 1):
                raise ServeError(f"{where}: version {version!r} is not a positive integer", _HINT)
            bundle = cls(
                pipeline=_text(data["pipeline"], f"{where}.pipeline"),
                version=version,
                predictor=_text(data["predictor"], f"{where}.predictor"),
                files=files,
                params=dict(data.get("params") or {}),
            )
        except KeyError as exc:
            raise ServeError(f"{where} lacks the key {exc.args[0]!r}", _HINT) from None
        except TypeError as exc:
            raise ServeError(f"{where} is malformed: {exc}", _HINT) from None
        roles = [f.role for f in files]
        if len(set(roles)) != len(roles):
            raise ServeError(f"{where} names a file role twice: {roles}", _HINT)
        if bundle.model.sha256 is None:
            raise ServeError(f"{where}: the model file has no sha256", _HINT)
        return bundle

    @classmethod
    def from_json(cls, text: str, where: str = BUNDLE_ENV) -> ServeBundle:
        """`from_dict` of JSON text."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ServeError(f"{where} is not valid JSON: {exc}", _HINT) from None
        return cls.from_dict(data, where)


_HINT = "write it with `pedigree models manifest` (it is generated, not edited by hand)"


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ServeError(f"{where} must be a non-empty string", _HINT)
    return value


def _file(item: Any, where: str) -> BundleFile:
    if not isinstance(item, dict):
        raise ServeError(f"{where}.files holds {item!r}, not an object", _HINT)
    role = _text(item.get("role"), f"{where}.files[].role")
    md5 = item.get("md5")
    sha = item.get("sha256")
    if not isinstance(md5, str) or not MD5.fullmatch(md5):
        raise ServeError(f"{where}: the {role} file's md5 {md5!r} is not an md5 digest", _HINT)
    if sha is not None and (not isinstance(sha, str) or not SHA256.fullmatch(sha)):
        raise ServeError(f"{where}: the {role} file's sha256 {sha!r} is not a digest", _HINT)
    size = item.get("size")
    uri = item.get("uri")
    return BundleFile(
        role=role,
        path=_text(item.get("path"), f"{where}.files[{role}].path"),
        md5=md5,
        sha256=sha,
        size=size if isinstance(size, int) else None,
        uri=uri if isinstance(uri, str) and uri else None,
    )


def file_digests(path: Path) -> tuple[str, str]:
    """(md5, sha256) of a file, read once."""
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            md5.update(chunk)
            sha.update(chunk)
    return md5.hexdigest(), sha.hexdigest()


def verify_file(item: BundleFile, path: Path) -> None:
    """ServeError unless `path` holds exactly the recorded bytes: its sha256 when recorded, and
    its md5 (DVC 3's content address) always."""
    try:
        md5, sha = file_digests(path)
    except OSError as exc:
        raise ServeError(f"cannot read the {item.role} file {path}: {exc.strerror}") from None
    if item.sha256 is not None and sha != item.sha256:
        raise ServeError(
            f"the {item.role} file {path} has sha256 {sha}, not the recorded {item.sha256}: "
            "refusing to serve bytes the registry does not name",
            "fetch it again (`pedigree models get`), or restore the DVC cache (`dvc fetch`)",
        )
    if md5 != item.md5:
        raise ServeError(
            f"the {item.role} file {path} has md5 {md5}, not the recorded {item.md5}: "
            "refusing to serve bytes its lineage does not name",
            "fetch it again, or restore the DVC cache (`dvc fetch`)",
        )
