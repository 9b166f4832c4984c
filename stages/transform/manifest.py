"""Read and check `data/raw/manifest.json`, the contract between ingest and transform.

data/raw is produced by the ingest stage, so anything wrong here (a missing or malformed
manifest, a path escaping data/raw, a duplicate id) means the workspace is damaged, not that the
user made a mistake: every error is a SourceError that names the file and says to re-run ingest.
Unknown keys are ignored on purpose, so ingest can add facts without breaking this stage.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from pedigree.errors import SourceError

MANIFEST = "manifest.json"
REBUILD = "re-run ingest (python -m stages.ingest) to rebuild data/raw"

Sha256 = Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")]
Name = Annotated[StrictStr, Field(min_length=1, max_length=255)]


class RawSample(BaseModel):
    """One sample as ingest describes it; the fields this stage reads or passes on."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Name
    animal_id: Name
    breed: Name
    class_id: Annotated[StrictInt, Field(ge=1, le=37)]
    species: Literal["cat", "dog"]
    image: Name
    trimap: Name
    image_sha256: Sha256
    trimap_sha256: Sha256
    # Hashes of the files as downloaded, before ingest converted them; passed through to
    # provenance untouched, so they are not checked beyond being text.
    raw_image_sha256: StrictStr | None = None
    raw_trimap_sha256: StrictStr | None = None
    width: Annotated[StrictInt, Field(ge=1)]
    height: Annotated[StrictInt, Field(ge=1)]


class Manifest(BaseModel):
    """The parts of manifest.json this stage needs."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    samples: tuple[RawSample, ...]


def _where(loc: tuple[object, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _safe_relative(raw_dir: Path, rel: str, sample_id: str, key: str) -> Path:
    # Paths come from a file on disk; one that is absolute or climbs out of data/raw would make
    # this stage read (and record as pedigree) something that is not part of the data set.
    posix = PurePosixPath(rel)
    if posix.is_absolute() or ".." in posix.parts or "\\" in rel or not posix.parts:
        raise SourceError(
            f"{raw_dir / MANIFEST}: sample '{sample_id}' has {key} path '{rel}' outside data/raw",
            REBUILD,
        )
    return raw_dir.joinpath(*posix.parts)


def load_manifest(raw_dir: Path) -> tuple[RawSample, ...]:
    """Load, validate and return the samples of `raw_dir/manifest.json`, sorted by id.

    Raises SourceError when the manifest is missing, not JSON, lists no samples, repeats an id,
    or points at paths outside `raw_dir`.
    """
    path = raw_dir / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(f"{path}: manifest not found", REBUILD) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: cannot read manifest ({exc})", REBUILD) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{path}:{exc.lineno}: manifest is not valid JSON ({exc.msg})", REBUILD
        ) from None
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise SourceError(
            f"{path}: invalid manifest at {_where(tuple(first['loc'])) or 'top level'}: "
            f"{first['msg']}{more}",
            REBUILD,
        ) from None
    if not manifest.samples:
        raise SourceError(f"{path}: manifest lists no samples", REBUILD)
    seen: set[str] = set()
    for sample in manifest.samples:
        if sample.id in seen:
            raise SourceError(f"{path}: sample id '{sample.id}' appears more than once", REBUILD)
        seen.add(sample.id)
        _safe_relative(raw_dir, sample.image, sample.id, "image")
        _safe_relative(raw_dir, sample.trimap, sample.id, "trimap")
    return tuple(sorted(manifest.samples, key=lambda s: s.id))


def sample_paths(raw_dir: Path, sample: RawSample) -> tuple[Path, Path]:
    """The (image, trimap) file paths of `sample` inside `raw_dir`."""
    return (
        _safe_relative(raw_dir, sample.image, sample.id, "image"),
        _safe_relative(raw_dir, sample.trimap, sample.id, "trimap"),
    )


def check_files_exist(raw_dir: Path, samples: tuple[RawSample, ...]) -> None:
    """Fail fast, before any slow work, if a file the manifest names is missing."""
    for sample in samples:
        for path in sample_paths(raw_dir, sample):
            if not path.is_file():
                raise SourceError(
                    f"{path}: missing (listed for sample '{sample.id}' in {raw_dir / MANIFEST})",
                    REBUILD,
                )
