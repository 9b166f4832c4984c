"""(f) labels: the label audit found no likely label errors above its threshold.

`pedigree replicate --folds` runs the spec's label audit (spec.replicate.folds.labels; pets:
confident learning over the out-of-fold predictions) and writes its summary file (pets:
reports/label_issues.json: {"images", "threshold", "flagged": [ids, worst first], "worst":
[{"id", "score", "wrong_pixel_fraction"}]}). This check reads that file only: one finding per
flagged image (the first few named, the rest counted). Its severity comes from the spec
(`severity: warn`, the default, reports without failing the audit; `fail` fails it); the
threshold is the label audit's own (pets: params.yaml labels.threshold), recorded in the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pedigree.audit.model import SHOWN, CheckResult, Finding, not_applicable

NAME = "labels"
RUN = "run `pedigree replicate --folds 5`"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def check_labels(root: Path, summary: str | None, severity: str) -> CheckResult:
    """The labels check on the label audit's summary file `summary` (relative to `root`)."""
    if summary is None:
        return not_applicable(
            NAME,
            "the spec declares no label audit (spec.replicate.folds.labels)",
            "declare one to rank the images by label quality",
        )
    doc = _read(root / summary)
    if doc is None:
        return CheckResult(
            NAME,
            f"{summary} is missing or not JSON",
            (Finding(f"{summary} is unreadable", summary, f"restore it from git, or {RUN}"),),
            severity="fail",
        )
    images = doc.get("images")
    flagged = doc.get("flagged")
    if not images or not isinstance(flagged, list):
        return not_applicable(NAME, f"{summary}: no label audit yet", RUN)
    threshold = doc.get("threshold")
    scores = {
        str(w.get("id")): w for w in doc.get("worst") or [] if isinstance(w, dict) and "id" in w
    }
    findings = []
    for image in flagged[:SHOWN]:
        known = scores.get(str(image), {})
        share = known.get("wrong_pixel_fraction")
        detail = f" (about {share:.0%} of its pixels)" if isinstance(share, int | float) else ""
        findings.append(
            Finding(
                f"image {image} looks mislabelled{detail}",
                summary,
                "check its annotation against the image and fix it in the data source "
                "(reports/label_issues.csv points at the file)",
            )
        )
    if len(flagged) > SHOWN:
        findings.append(
            Finding(
                f"{len(flagged) - SHOWN} more image(s) look mislabelled",
                summary,
                "see the full ranked list in the label audit's CSV",
            )
        )
    what = f"{len(flagged)} of {images} image(s) flagged above the threshold {threshold}"
    if not flagged:
        return CheckResult(NAME, f"no likely label error among {images} images ({summary})")
    return CheckResult(NAME, what, tuple(findings), severity=severity)
