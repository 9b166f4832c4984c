"""Fixtures for the evaluate stage: calibrate's tiny shards and model, plus tiny upstream files.

The 32x32 prepared data (`calib_prepared`, with a test split) and the tiny over-confident U-Net
(`tiny_model`) are the calibrate tests' session fixtures, imported here so both suites share one
copy per session. calibration.json, train's history.csv and train.json, and a dvc.lock are
written by hand: evaluate only reads them.

The stage's notebook kernel is a fresh process: it inherits this process's environment, so
PYTHONHASHSEED is set for it through monkeypatch in every test that runs the stage.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.unit.stages.calibrate.conftest import (  # noqa: F401  (pytest fixtures)
    calib_prepared,
    calibrate_params,
    tf_configured,
    tiny_model,
)

TEMPERATURE = 1.75
EVALUATE_TEMPLATE = """
evaluate:
  batch_size: {batch_size}
  bins: {bins}
  examples: {examples}
"""
HISTORY = """epoch,loss,val_loss,val_mean_iou
1,1.200000,1.100000,0.310000
2,0.900000,0.950000,0.420000
3,0.800000,0.930000,
"""
TRAIN_SUMMARY = {
    "hyperparameters": {"batch_size": 4, "base_filters": 4, "dropout": 0.0, "learning_rate": 0.02},
    "model": {"base_filters": 4, "depth": 2, "dice_weight": 1.0, "dropout": 0.0, "input_size": 32},
    "train": {"epochs": 3, "patience": 2},
    "determinism": {"seed": 1234},
    "parameters": 12345,
}
LOCK = """schema: '2.0'
stages:
  transform:
    cmd: python -m stages.transform
    outs:
    - path: data/prepared
      hash: md5
      md5: 0123456789abcdef0123456789abcdef.dir
  train:
    cmd: python -m stages.train
    outs:
    - path: models/model.keras
      hash: md5
      md5: fedcba9876543210fedcba9876543210
    - path: models/train
      hash: md5
      md5: 00112233445566778899aabbccddeeff.dir
"""


def evaluate_params(path: Path, **overrides: object) -> Path:
    """params.yaml with transform, model, determinism, calibrate and evaluate sections."""
    values: dict[str, object] = {"batch_size": 4, "bins": 10, "examples": 2}
    values.update(overrides)
    calibrate_params(path)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(EVALUATE_TEMPLATE.format(**values))
    return path


def write_calibration(path: Path, temperature: object = TEMPERATURE) -> Path:
    """A calibration.json as calibrate writes it (only what evaluate reads is realistic)."""
    doc = {
        "temperature": temperature,
        "ece": {"before": 0.2, "after": 0.05},
        "nll": {"before": 1.5, "after": 0.9},
        "bins": 15,
        "images": 2,
        "split": "calibration",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def write_train_dir(folder: Path) -> Path:
    """train's history.csv and train.json."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "history.csv").write_text(HISTORY, encoding="utf-8")
    text = json.dumps(TRAIN_SUMMARY, indent=2, sort_keys=True) + "\n"
    (folder / "train.json").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def eval_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """params.yaml, calibration.json, the train folder and dvc.lock (read-only)."""
    root = tmp_path_factory.mktemp("eval-inputs")
    lock = root / "dvc.lock"
    lock.write_text(LOCK, encoding="utf-8")
    return {
        "params": evaluate_params(root / "params.yaml"),
        "calibration": write_calibration(root / "calibration" / "calibration.json"),
        "train": write_train_dir(root / "train"),
        "lock": lock,
    }


def stage_argv(
    inputs: dict[str, Path], prepared: Path, model: Path, out: Path, **replace: Path
) -> list[str]:
    """The stage's command line for these inputs; `replace` swaps one (e.g. params=...)."""
    paths = {**inputs, "prepared": prepared, "model": model, "out": out, **replace}
    keys = ("params", "prepared", "model", "calibration", "train", "lock", "out")
    return [item for key in keys for item in (f"--{key}", str(paths[key]))]


# reports/label_issues.json as committed before any label audit ran (a test checks it is).
LABELS_PLACEHOLDER = (
    '{\n  "images": 0,\n  "note": "no label audit yet: run `pedigree replicate --folds 5`",\n'
    '  "schema": "pedigree.label-issues/v1"\n}\n'
)
LABELS_CSV_HEADER = "id,score,wrong_pixel_fraction,flagged,runs,trimap,trimap_sha256,provenance\n"


def write_label_placeholder(folder: Path) -> Path:
    """label_issues.json (the placeholder) and label_issues.csv (header only) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "label_issues.csv").write_text(LABELS_CSV_HEADER, encoding="utf-8")
    path = folder / "label_issues.json"
    path.write_text(LABELS_PLACEHOLDER, encoding="utf-8")
    return path


def tiny_png(width: int = 4, height: int = 3) -> bytes:
    """A valid RGB PNG (an orange gradient), built by hand: no imaging library needed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + b"".join(bytes((255, 40 * x % 256, 20 * y % 256)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def audit_doc(**changes: Any) -> dict[str, Any]:
    """A label_issues.json as the label audit writes it (12 images, 3 flagged)."""
    doc: dict[str, Any] = {
        "schema": "pedigree.label-issues/v1",
        "method": "self-confidence per pixel, averaged",
        "cleanlab": "2.7.1",
        "threshold": 0.5,
        "images": 12,
        "runs": ["fold-0/seed-1234", "fold-1/seed-1234"],
        "flagged": ["cat-7", "dog-3", "cat-1"],
        "worst": [
            {"id": "cat-7", "score": 0.12, "wrong_pixel_fraction": 0.45},
            {"id": "dog-3", "score": 0.25, "wrong_pixel_fraction": 0.3},
            {"id": "cat-1", "score": 0.4, "wrong_pixel_fraction": 0.1},
        ],
        "figure": base64.b64encode(tiny_png()).decode("ascii"),
    }
    doc.update(changes)
    return doc
