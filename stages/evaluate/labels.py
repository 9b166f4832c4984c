"""The report's Label audit section: which test-set labels look wrong, from the label audit.

`pedigree replicate --folds K` scores every image's label against the out-of-fold predictions
(reports/predictions/ of each fold's evaluation) and writes reports/label_issues.json (schema
pedigree.label-issues/v1) and reports/label_issues.csv:
  schema   "pedigree.label-issues/v1"
  images   how many images were audited (0: no audit yet, the committed placeholder)
  note     the placeholder's sentence ("no label audit yet: run ...")
  method   how the scores were computed (a sentence)
  cleanlab the cleanlab version used
  threshold the score threshold an image is flagged at
  runs     the runs whose predictions were audited
  flagged  the ids of the flagged images, worst first
  worst    the worst images: [{"id", "score", "wrong_pixel_fraction"}] (estimated)
  figure   a base64 PNG of the worst images, or null
This module reads and checks that file (clear SourceErrors, like the replicates summary) and
writes the section's text; the notebook shows the figure as an image. Pure: no kernel needed.
"""

from __future__ import annotations

import base64
import binascii
import math
from pathlib import Path
from typing import Any

from pedigree.errors import SourceError
from stages.evaluate.inputs import read_schema_json
from stages.evaluate.tables import fmt, markdown_table

SCHEMA = "pedigree.label-issues/v1"
RUN_HINT = "run `pedigree replicate --folds 5`"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SHOWN = 10  # rows of the worst-images table


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def read_labels(path: str | Path) -> dict[str, Any] | None:
    """The label audit at `path` (None for "": none given); SourceError if unusable."""
    if not str(path):
        return None
    path = Path(path)
    hint = f"restore {path} from git, or {RUN_HINT} to rewrite it"
    doc = read_schema_json(path, SCHEMA, "file", hint)

    def bad(key: str, expected: str) -> SourceError:
        return SourceError(f"{path} [{key}]: expected {expected}", hint)

    images = doc.get("images")
    if isinstance(images, bool) or not isinstance(images, int) or images < 0:
        raise bad("images", "a whole number >= 0")
    if "note" in doc and not isinstance(doc["note"], str):
        raise bad("note", "a string")
    if images == 0:
        return doc  # the placeholder: nothing audited yet
    for key in ("method", "cleanlab"):
        if not isinstance(doc.get(key), str):
            raise bad(key, "a string")
    if not _number(doc.get("threshold")):
        raise bad("threshold", "a number")
    for key in ("runs", "flagged"):
        value = doc.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad(key, "a list of strings")
    worst = doc.get("worst")
    if not isinstance(worst, list):
        raise bad("worst", "a list")
    for i, row in enumerate(worst):
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("id"), str)
            or not _number(row.get("score"))
            or not _number(row.get("wrong_pixel_fraction"))
        ):
            raise bad(f"worst[{i}]", '{"id": str, "score": number, "wrong_pixel_fraction": number}')
    figure = doc.get("figure")
    if figure is not None and _decode_png(figure) is None:
        raise bad("figure", "a base64 PNG or null")
    return doc


def _decode_png(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if data.startswith(PNG_SIGNATURE) else None


def label_figure(doc: dict[str, Any] | None) -> bytes | None:
    """The audit's figure as PNG bytes, or None (no audit, or no figure)."""
    if not doc or not doc.get("images"):
        return None
    return _decode_png(doc.get("figure"))


def labels_markdown(doc: dict[str, Any] | None) -> str:
    """The section's text: the note when nothing was audited, else the counts and worst images."""
    if doc is None:
        return f"No label audit ({RUN_HINT})."
    if not doc["images"]:
        return _sentence(str(doc.get("note") or f"no label audit yet: {RUN_HINT}"))
    images, flagged, runs = doc["images"], doc["flagged"], doc["runs"]
    shown = doc["worst"][:SHOWN]
    text = (
        f"The label audit scored the labels of **{images}** images against the out-of-fold "
        f"predictions of {len(runs)} run{'s' if len(runs) != 1 else ''} "
        f"({', '.join(runs) or 'none named'}); **{len(flagged)}** of them are flagged as likely "
        f"label issues (threshold {fmt(float(doc['threshold']))}).\n\n"
        f"Method: {doc['method']} (cleanlab {doc['cleanlab']}). The wrong-pixel fraction is the "
        "audit's estimate of the share of an image's pixels whose label is wrong."
    )
    if not shown:
        return f"{text}\n\nNo image is listed as worst."
    rows = [
        (rank, f"`{row['id']}`", float(row["score"]), float(row["wrong_pixel_fraction"]))
        for rank, row in enumerate(shown, start=1)
    ]
    table = markdown_table(("rank", "id", "score", "estimated wrong-pixel fraction"), rows)
    more = len(doc["worst"]) - len(shown)
    tail = f"\n\n{more} more worst images are in the audit's label_issues.csv." if more > 0 else ""
    return f"{text}\n\n**Worst images**\n\n{table}{tail}"


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."
