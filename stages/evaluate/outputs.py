"""evaluate's data outputs: metrics.json, evaluation_result.csv and evaluation.json.

Every number is rounded to 6 decimals and JSON is written with sorted keys, so the bytes depend
on the inputs only. The release stage reads evaluation.json's `model.sha256`,
`test_split.sha256` and `metrics`: those keys are part of the stage's contract.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from stages.evaluate.compute import DECIMALS, Result, metrics_document, result_rows

METRICS_JSON = "metrics.json"
RESULT_CSV = "evaluation_result.csv"
EVALUATION_JSON = "evaluation.json"
RESULT_FIELDS = ("metric", "original_model", "calibrated_model")


def write_json(path: Path, doc: Any) -> None:
    """Sorted keys, indent 2, ASCII, a final newline."""
    text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n"
    Path(path).write_text(text, encoding="utf-8")


def _cell(value: float | None) -> str:
    # A class absent from both labels and predictions has no IoU: an empty cell.
    return "" if value is None else f"{value:.{DECIMALS}f}"


def write_result_csv(path: Path, metrics: dict[str, Any]) -> None:
    """metric,original_model,calibrated_model: one row per metric."""
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(RESULT_FIELDS)
        for name, original, calibrated in result_rows(metrics):
            writer.writerow([name, _cell(original), _cell(calibrated)])


def evaluation_document(
    result: Result,
    files: dict[str, dict[str, Any]],
    determinism: dict[str, Any],
) -> dict[str, Any]:
    """evaluation.json: the artefacts' hashes, metrics, confusion matrix, examples, reliability.

    `files` holds {"model": {path, sha256}, "calibration": {path, sha256},
    "test_split": {path, sha256}} as provenance.artefact_hashes computes them.
    """
    metrics = metrics_document(result)
    return {
        "model": dict(files["model"]),
        "calibration": {**files["calibration"], "temperature": metrics["temperature"]},
        "test_split": {**files["test_split"], "images": result.images},
        "metrics": metrics,
        "confusion": result.confusion.tolist(),
        "examples": {
            "best": [e.summary() for e in result.best],
            "worst": [e.summary() for e in result.worst],
        },
        "bins": result.bins,
        "reliability": result.reliability,
        "determinism": determinism,
    }


def write_outputs(folder: Path, doc: dict[str, Any]) -> None:
    """Write the three data files into `folder` (the notebook calls this)."""
    folder = Path(folder)
    write_json(folder / METRICS_JSON, doc["metrics"])
    write_result_csv(folder / RESULT_CSV, doc["metrics"])
    write_json(folder / EVALUATION_JSON, doc)
