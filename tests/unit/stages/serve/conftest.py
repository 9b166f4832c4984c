"""Fixtures for the pets predictor: the calibrate tests' tiny prepared data and small U-Nets.

The 32x32 data/prepared (`calib_prepared`, made by the real transform stage from
tests/unit/stages/transform's tiny data/raw, which sits next to it) and `tf_configured` are the
calibrate suite's session fixtures, shared so one session builds them once. The models here are
untrained U-Nets with fixed weights: the predictor must reproduce evaluate's numbers, whatever
they are, so training would only cost time. Test modules import the helpers as
`from tests.unit.stages.serve.conftest import ...`.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.unit.stages.calibrate.conftest import (  # noqa: F401  (pytest fixtures)
    DETERMINISM,
    SIZE,
    calib_prepared,
    tf_configured,
)

TEMPERATURE = 1.75
MODEL_SECTION = {"depth": 2, "base_filters": 4, "dropout": 0.0, "dice_weight": 1.0}
WEIGHT_SEED = 20240615


def model_section(input_size: int) -> dict[str, Any]:
    """params.yaml `model` as a lineage records it."""
    return {"input_size": input_size, **MODEL_SECTION}


def serve_params(input_size: int, determinism: bool = True) -> dict[str, Any]:
    """The predictor's params: `model`, and the session's `determinism` unless told not to."""
    params: dict[str, Any] = {"model": model_section(input_size)}
    if determinism:
        params["determinism"] = DETERMINISM.model_dump()
    return params


def write_calibration(path: Path, temperature: object = TEMPERATURE) -> Path:
    """calibration.json with what the predictor reads (and a little of the rest)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"temperature": temperature, "split": "calibration", "bins": 15}
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def build_model(path: Path, input_size: int) -> Path:
    """An untrained U-Net with fixed random weights, saved as the train stage saves it."""
    from stages.common.modelio import save_model
    from stages.common.unet import build_unet

    # Keras draws unseeded initializer seeds from Python's `random`: keep the session's state,
    # so the other suites' models (calibrate's tiny_model) are built as when run alone.
    state = random.getstate()
    try:
        model = build_unet(input_size, MODEL_SECTION["depth"], MODEL_SECTION["base_filters"], 0.0)
    finally:
        random.setstate(state)
    rng = np.random.default_rng(WEIGHT_SEED + input_size)
    weights = []
    for weight in model.get_weights():
        if weight.ndim == 4:  # conv kernels: He-scaled noise; BatchNorm keeps identity values
            fan_in = weight.shape[0] * weight.shape[1] * weight.shape[2]
            weight = rng.normal(0.0, np.sqrt(2.0 / fan_in), weight.shape).astype(np.float32)
        weights.append(weight)
    model.set_weights(weights)
    save_model(model, path)
    return path


@pytest.fixture(scope="session")
def served(
    tf_configured: None,  # noqa: F811 - the fixture imported above
    calib_prepared: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[int, dict[str, Path]]:
    """Files for each model input size: 16 (area resize from the stored 32) and 32 (none)."""
    root = tmp_path_factory.mktemp("serve")
    calibration = write_calibration(root / "calibration.json")
    return {
        size: {
            "model": build_model(root / f"model-{size}.keras", size),
            "calibration": calibration,
            "stats": calib_prepared / "stats.json",
        }
        for size in (16, SIZE)
    }


@pytest.fixture(scope="session")
def predictors(served: dict[int, dict[str, Path]]) -> dict[int, Any]:
    """A loaded predictor per input size (read-only: tests only call predict)."""
    from stages.serve import load

    return {size: load(files, serve_params(size)) for size, files in served.items()}


def png_bytes(pixels: np.ndarray, mode: str | None = None) -> bytes:
    """`pixels` encoded as PNG (lossless)."""
    buffer = io.BytesIO()
    image = Image.fromarray(pixels)
    (image if mode is None else image.convert(mode)).save(buffer, "PNG")
    return buffer.getvalue()


def stored_split(prepared: Path, split: str) -> tuple[list[str], np.ndarray]:
    """The ids and stored uint8 pixels (N, H, W, 3) of a split, in shard order."""
    import tensorflow as tf

    from stages.common.data import SplitReader

    files = SplitReader(prepared, {split}, "serve-test").files(split)
    spec = {
        "id": tf.io.FixedLenFeature([], tf.string),
        "image": tf.io.FixedLenFeature([], tf.string),
        "height": tf.io.FixedLenFeature([], tf.int64),
        "width": tf.io.FixedLenFeature([], tf.int64),
    }
    ids, images = [], []
    for record in tf.data.TFRecordDataset([str(f) for f in files.files]):
        example = tf.io.parse_single_example(record, spec)
        shape = (int(example["height"]), int(example["width"]), 3)
        ids.append(example["id"].numpy().decode("utf-8"))
        images.append(np.frombuffer(example["image"].numpy(), np.uint8).reshape(shape))
    return ids, np.stack(images)


def raw_image_bytes(prepared: Path, sample_ids: list[str]) -> list[bytes]:
    """The data/raw image files (as ingest left them) of these samples."""
    raw = prepared.parent / "raw"
    manifest = json.loads((raw / "manifest.json").read_text(encoding="utf-8"))
    paths = {sample["id"]: sample["image"] for sample in manifest["samples"]}
    return [(raw / paths[sample_id]).read_bytes() for sample_id in sample_ids]
