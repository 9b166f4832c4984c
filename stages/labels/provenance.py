"""Where each audited sample's label came from: its trimap in data/raw and that file's sha256.

Read from data/prepared/provenance.jsonl (one JSON object a line, written by transform):
`{"id", "animal_id", "split", "source": {"trimap": "annotations/trimaps/X.png", "trimap_sha256",
"image", ...}, ...}` with source paths relative to data/raw. A flagged image is only useful if a
person can open the exact label file that is suspected, so every audited sample must be found.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pedigree.errors import SourceError
from pedigree.stagekit import BoundedReadError, read_bounded

RAW = PurePosixPath("data/raw")
PROVENANCE_REF = "data/prepared/provenance.jsonl"
# One short line per sample: far more than any data set this pipeline handles.
MAX_PROVENANCE_BYTES = 512 << 20
HINT = "re-run the transform stage, which writes data/prepared/provenance.jsonl"


@dataclass(frozen=True)
class Source:
    """A sample's label file, as the report names it."""

    trimap: str  # data/raw/<source.trimap>
    trimap_sha256: str
    provenance: str  # data/prepared/provenance.jsonl#id=<id>


def _line_error(path: Path, number: int, what: str) -> SourceError:
    return SourceError(f"{path}:{number}: {what}", HINT)


def read_sources(path: Path, wanted: Iterable[str]) -> dict[str, Source]:
    """The Source of every id in `wanted`; SourceError for a bad line or an id not found."""
    path = Path(path)
    try:
        text = read_bounded(path, MAX_PROVENANCE_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise SourceError(f"{path} is missing", HINT) from None
    except BoundedReadError as exc:
        raise SourceError(f"{path} {exc}", HINT) from None
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path} is not UTF-8 text: {exc}", HINT) from None
    need = set(wanted)
    found: dict[str, Source] = {}
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise _line_error(path, number, f"not a JSON object: {exc}") from None
        sample = record.get("id") if isinstance(record, dict) else None
        if not isinstance(sample, str) or not sample:
            raise _line_error(path, number, "has no 'id' string")
        if sample in lines:
            raise _line_error(path, number, f"id {sample!r} again (first on line {lines[sample]})")
        lines[sample] = number
        if sample in need:
            found[sample] = _source(path, number, sample, record.get("source"))
    missing = sorted(need - found.keys())
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise SourceError(
            f"{path} has no line for predicted sample(s) {missing[:3]}{more}",
            "the predictions and data/prepared come from different runs: re-run transform, then "
            "`pedigree replicate --folds K`",
        )
    return found


def _source(path: Path, number: int, sample: str, source: object) -> Source:
    if not isinstance(source, dict):
        raise _line_error(path, number, f"sample {sample!r} has no 'source' object")
    trimap, digest = source.get("trimap"), source.get("trimap_sha256")
    if not isinstance(trimap, str) or not trimap:
        raise _line_error(path, number, f"sample {sample!r} has no 'source.trimap' path")
    relative = PurePosixPath(trimap)
    # The path is written into the report and opened by people: it must stay inside data/raw.
    if relative.is_absolute() or ".." in relative.parts:
        raise _line_error(
            path, number, f"sample {sample!r}: 'source.trimap' {trimap!r} leaves data/raw"
        )
    if not isinstance(digest, str) or not digest:
        raise _line_error(path, number, f"sample {sample!r} has no 'source.trimap_sha256'")
    return Source(
        trimap=(RAW / relative).as_posix(),
        trimap_sha256=digest,
        provenance=f"{PROVENANCE_REF}#id={sample}",
    )
