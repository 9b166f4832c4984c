"""Reading what evaluate takes from upstream stages, with a clear error for each bad input.

calibration.json (calibrate), history.csv and train.json (train) are small: the stage reads them
before TensorFlow loads, so a missing or damaged file fails in a second; the notebook reads them
again with the same functions to draw the report.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pedigree.errors import SourceError

HISTORY_CSV = "history.csv"
TRAIN_JSON = "train.json"
HISTORY_FIELDS = ("epoch", "loss", "val_loss", "val_mean_iou")
TRAIN_KEYS = ("hyperparameters", "model", "train")


@dataclass(frozen=True)
class Calibration:
    """calibrate's result: the temperature and the whole document (for its split's numbers)."""

    temperature: float
    doc: dict[str, Any]


def read_json(path: Path, hint: str) -> Any:
    """The JSON document at `path`; SourceError (with `hint`) when it is missing or invalid."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError(f"{path} is missing", hint) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path} is not valid JSON: {exc}", hint) from None


def read_schema_json(path: Path, schema: str, kind: str, hint: str) -> dict[str, Any]:
    """The JSON object at `path` whose "schema" is `schema`; SourceError naming the file and
    what it is instead (`kind`: what the file should be, e.g. "summary")."""
    doc = read_json(path, hint)
    if not isinstance(doc, dict) or doc.get("schema") != schema:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise SourceError(f"{path} is not a {schema} {kind} (schema: {found!r})", hint)
    return doc


def read_calibration(path: Path) -> Calibration:
    """calibration.json with a positive, finite `temperature`."""
    hint = "run the calibrate stage (pedigree run --stage calibrate)"
    doc = read_json(Path(path), hint)
    value = doc.get("temperature") if isinstance(doc, dict) else None
    # bool is an int in Python: `true` is not a temperature.
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value <= 0:
        raise SourceError(
            f"{path} has no positive finite 'temperature' (got {value!r})", f"re-{hint[2:]}"
        )
    return Calibration(float(value), doc)


def _number(text: str) -> float | None:
    # train writes an empty cell where an epoch has no value.
    return float(text) if text.strip() else None


def read_history(path: Path) -> list[dict[str, Any]]:
    """train's per-epoch history.csv as rows {epoch: int, loss, val_loss, val_mean_iou}."""
    path = Path(path)
    hint = "run the train stage (pedigree run --stage train)"
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [f for f in HISTORY_FIELDS if f not in (reader.fieldnames or [])]
            if missing:
                raise SourceError(f"{path} has no column(s) {missing}", f"re-{hint[2:]}")
            rows = [
                {"epoch": int(row["epoch"]), **{k: _number(row[k]) for k in HISTORY_FIELDS[1:]}}
                for row in reader
            ]
    except FileNotFoundError:
        raise SourceError(f"{path} is missing", hint) from None
    except ValueError as exc:
        raise SourceError(f"{path} holds a value that is not a number: {exc}", hint) from None
    if not rows:
        raise SourceError(f"{path} has no epochs", f"re-{hint[2:]}")
    return rows


def read_train_summary(path: Path) -> dict[str, Any]:
    """train.json: hyperparameters, model, train settings, determinism and parameter count."""
    hint = "run the train stage (pedigree run --stage train)"
    doc = read_json(Path(path), hint)
    missing = [k for k in TRAIN_KEYS if not isinstance(doc, dict) or k not in doc]
    if missing:
        raise SourceError(f"{path} has no {missing}", f"re-{hint[2:]}")
    return doc


def check_train_dir(folder: Path) -> None:
    """Both train files are present and readable (the report draws from them)."""
    read_history(Path(folder) / HISTORY_CSV)
    read_train_summary(Path(folder) / TRAIN_JSON)
