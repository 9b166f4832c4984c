"""label_issues.csv and label_issues.json: the ranking, their bytes, and writing them atomically.

Both files are built as bytes first (numbers rounded to DECIMALS, JSON keys sorted, no time or
path of this machine in them), so the same inputs give byte-identical files, and only then put
in place: each is written to a hidden temporary file next to its target and renamed over it, the
two renames last, so a failure anywhere leaves the previous files (or none), never a half.
Other files in the output folder (evaluate writes to reports/ too) are left alone.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.labels.audit import METHOD, Audit
from stages.labels.provenance import Source
from stages.labels.samples import Samples

SCHEMA = "pedigree.label-issues/v1"
ISSUES_CSV = "label_issues.csv"
ISSUES_JSON = "label_issues.json"
DECIMALS = 6
COLUMNS = (
    "id",
    "score",
    "wrong_pixel_fraction",
    "flagged",
    "runs",
    "trimap",
    "trimap_sha256",
    "provenance",
)


@dataclass(frozen=True)
class Row:
    """One image of the ranking, numbers already rounded."""

    index: int  # into Samples
    id: str
    score: float
    wrong_pixel_fraction: float
    flagged: bool
    runs: int


def _r(value: float) -> float:
    # `+ 0.0` turns -0.0 into 0.0, so a sign never changes the bytes.
    return round(float(value), DECIMALS) + 0.0


def rank(samples: Samples, result: Audit, threshold: float) -> list[Row]:
    """Every image, worst first: by rounded score ascending, ties by id.

    An image is flagged when its (unrounded) wrong-pixel fraction is above `threshold`.
    """
    rows = [
        Row(
            index=i,
            id=sample,
            score=_r(result.scores[i]),
            wrong_pixel_fraction=_r(result.wrong_pixel_fraction[i]),
            flagged=bool(result.wrong_pixel_fraction[i] > threshold),
            runs=int(samples.runs[i]),
        )
        for i, sample in enumerate(samples.ids)
    ]
    return sorted(rows, key=lambda row: (row.score, row.id))


def csv_bytes(rows: Sequence[Row], sources: Mapping[str, Source]) -> bytes:
    """label_issues.csv: a header, then one line per image in ranking order ("\\n" endings)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        source = sources[row.id]
        writer.writerow(
            [
                row.id,
                f"{row.score:.{DECIMALS}f}",
                f"{row.wrong_pixel_fraction:.{DECIMALS}f}",
                "true" if row.flagged else "false",
                row.runs,
                source.trimap,
                source.trimap_sha256,
                source.provenance,
            ]
        )
    return text.getvalue().encode("utf-8")


def document(
    rows: Sequence[Row],
    samples: Samples,
    threshold: float,
    examples: int,
    cleanlab_version: str,
    figure: str | None,
) -> dict[str, Any]:
    """label_issues.json's content: the summary, the flagged ids and the worst examples."""
    return {
        "schema": SCHEMA,
        "method": METHOD,
        "cleanlab": cleanlab_version,
        "threshold": threshold,
        "images": len(rows),
        "runs": list(samples.run_names),
        "flagged": [row.id for row in rows if row.flagged],
        "worst": [
            {"id": row.id, "score": row.score, "wrong_pixel_fraction": row.wrong_pixel_fraction}
            for row in rows[:examples]
        ],
        "figure": figure,
    }


def json_bytes(doc: Mapping[str, Any]) -> bytes:
    """Sorted keys, two-space indent, ASCII only, one trailing newline."""
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")


def _partial(target: Path) -> Path:
    return target.with_name(f".{target.name}.partial-{os.getpid()}")


def write_files(out: Path, files: Mapping[str, bytes]) -> None:
    """Put each `name: bytes` in `out` by temporary file and rename, all renames last.

    Leftovers of a killed earlier run (`.NAME.partial-PID`) are removed first; on any error the
    temporary files are removed and the targets are as they were.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in files:
        for leftover in out.glob(f".{name}.partial-*"):
            if leftover.is_file() or leftover.is_symlink():
                leftover.unlink(missing_ok=True)
    written: list[tuple[Path, Path]] = []
    try:
        for name, data in files.items():
            target = out / name
            temporary = _partial(target)
            written.append((temporary, target))
            temporary.write_bytes(data)
        for temporary, target in written:
            os.replace(temporary, target)
    except BaseException:
        for temporary, _ in written:
            temporary.unlink(missing_ok=True)
        raise
