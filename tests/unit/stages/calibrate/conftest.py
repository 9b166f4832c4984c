"""Fixtures for the calibrate stage: tiny real shards, a tiny U-Net and params files.

Test modules import the helpers as `from tests.unit.stages.calibrate.conftest import ...`.
The shards come from the real transform stage run on the transform tests' tiny data/raw builder,
at 32x32 so they feed a 32-pixel U-Net without resizing.

TensorFlow fixes its thread pools at its first op, and `configure()` (which every model stage
calls) cannot change them afterwards. `tf_configured` therefore calls it before any TensorFlow
work in this session, with the same determinism params the stage will read, so the stage's own
call is a no-op for the threads.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from stages.common.determinism import DeterminismParams, configure
from tests.unit.stages.transform.conftest import animals_per_split, build_raw, write_params

SIZE = 32  # images, model input
DETERMINISM = DeterminismParams(seed=1234, intra_op_threads=2, inter_op_threads=1)
TRAIN_EPOCHS = 40  # tiny model, a few images: a second or two
OVERCONFIDENCE = 4.0  # factor on the trained last layer

CALIBRATE_TEMPLATE = """
model:
  input_size: {input_size}
  depth: 2
  base_filters: 4
  dropout: 0.0
  dice_weight: 1.0

determinism:
  seed: {seed}
  intra_op_threads: {intra}
  inter_op_threads: {inter}
  op_determinism: true

calibrate:
  bins: {bins}
  temperature_bounds: {bounds}
  batch_size: {batch_size}
  max_pixels: {max_pixels}
"""


def calibrate_params(path: Path, **overrides: object) -> Path:
    """Write a params.yaml with transform, model, determinism and calibrate sections."""
    values: dict[str, object] = {
        "input_size": SIZE,
        "seed": DETERMINISM.seed,
        "intra": DETERMINISM.intra_op_threads,
        "inter": DETERMINISM.inter_op_threads,
        "bins": 15,
        "bounds": "[0.05, 20.0]",
        "batch_size": 4,
        "max_pixels": 2000000,
    }
    values.update(overrides)
    write_params(path, height=SIZE, width=SIZE)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(CALIBRATE_TEMPLATE.format(**values))
    return path


def synthetic_labels(logits: np.ndarray, temperature: float, seed: int) -> np.ndarray:
    """Labels drawn from softmax(logits / temperature): a model calibrated at that temperature."""
    from stages.calibrate.reliability import probabilities

    probs = probabilities(logits, temperature)
    draw = np.random.default_rng(seed).random((probs.shape[0], 1))
    labels = (draw > np.cumsum(probs, axis=1)).sum(axis=1)
    return np.minimum(labels, probs.shape[1] - 1)  # cumsum can end a hair below 1


@pytest.fixture(scope="session")
def tf_configured() -> None:
    """Configure determinism before any TensorFlow op of this session (see module doc)."""
    # As transform's load_tf does: whichever imports TensorFlow first, oneDNN is off, so
    # in-process runs and `python -m` subprocesses compute (and record) the same thing.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    try:
        configure(DETERMINISM, require_hash_seed=False)
    except RuntimeError as exc:
        pytest.skip(
            f"TensorFlow already started with other thread counts ({exc}); run "
            "tests/unit/stages/calibrate in its own pytest process or before other TF tests"
        )


@pytest.fixture(scope="session")
def calib_prepared(tf_configured: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/prepared at 32x32 with a few images in every split, made by the transform stage."""
    from stages.transform.__main__ import main as transform_main

    root = tmp_path_factory.mktemp("calib-data")
    animals = animals_per_split({"train": 2, "validation": 1, "calibration": 2, "test": 1})
    raw = build_raw(root, animals)
    params = calibrate_params(root / "params.yaml")
    out = root / "prepared"
    assert transform_main(["--params", str(params), "--raw", str(raw), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_model(calib_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 32-pixel U-Net (depth 2, 4 filters) trained briefly, made over-confident, saved to disk.

    A few epochs on the train split teach it the class prior and where borders lie, so it beats
    chance; its last layer is then scaled up, so its logits are far too sharp for how often it is
    right: temperature scaling must soften them (1 < T < the upper bound) and lower the NLL.
    """
    import keras
    import tensorflow as tf

    from stages.common.data import MODEL_SELECTION, SplitReader, dataset
    from stages.common.modelio import save_model
    from stages.common.unet import build_unet

    reader = SplitReader(calib_prepared, MODEL_SELECTION, "test-fixture")
    train = dataset(tf, reader.files("train"), reader.stats(), SIZE, 4, DETERMINISM.seed, True)
    model = build_unet(SIZE, 2, 4, 0.0)
    model.compile(
        optimizer=keras.optimizers.Adam(0.02),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(train, epochs=TRAIN_EPOCHS, verbose=0)
    layer = model.get_layer("logits")
    layer.set_weights([w * OVERCONFIDENCE for w in layer.get_weights()])
    path = tmp_path_factory.mktemp("calib-model") / "model.keras"
    save_model(model, path)
    return path
