"""The served prediction is evaluate's: same pixels in, same mask and calibrated probabilities out.

evaluate's own code path runs here (stages.common.data's dataset over the shards that the
real transform stage wrote, the checked model, stages.evaluate.compute), and the predictor is fed
the same images three ways: the stored pixels, those pixels as PNG, and the raw files that
transform made them from.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stages.common.metrics import CLASS_NAMES, log_softmax
from stages.serve.inputs import to_batch
from tests.unit.stages.serve.conftest import (
    DETERMINISM,
    SIZE,
    TEMPERATURE,
    png_bytes,
    raw_image_bytes,
    serve_params,
    stored_split,
)

pytestmark = pytest.mark.usefixtures("tf_configured")


def evaluate_run(prepared: Path, model_path: Path, input_size: int, split: str) -> dict[str, Any]:
    """evaluate's inference over `split`: logits, ids and its Result (keeping every example).

    evaluate reads only the test split; the tiny test split holds one image, so the larger
    train split goes through the same code too (stages.evaluate.compute takes any batches).
    """
    import tensorflow as tf

    from stages.common.data import SplitReader, dataset
    from stages.common.modelio import load_checked_model
    from stages.evaluate.compute import evaluate_model, read_sample_ids
    from stages.evaluate.inference import EVALUATE_SPLITS

    reader = SplitReader(prepared, EVALUATE_SPLITS | {split}, "evaluate")
    stats, files = reader.stats(), reader.files(split)
    model = load_checked_model(model_path, input_size)
    ids = read_sample_ids(tf, files)

    def batches() -> Any:  # batches of 2: the predictor's single call must not matter
        return dataset(tf, files, stats, input_size, 2, DETERMINISM.seed, training=False)

    logits = np.concatenate([np.asarray(model(x, training=False)) for x, _ in batches()])
    labels = np.concatenate([np.asarray(y) for _, y in batches()])
    result = evaluate_model(model, batches(), ids, TEMPERATURE, 10, examples=len(ids))
    return {"ids": ids, "logits": logits, "labels": labels, "result": result}


@pytest.mark.parametrize("split", ["test", "train"])
@pytest.mark.parametrize("input_size", [16, SIZE], ids=["area-resized", "stored-size"])
def test_predictions_equal_evaluate(
    calib_prepared: Path, served: dict, predictors: dict, input_size: int, split: str
) -> None:
    run = evaluate_run(calib_prepared, served[input_size]["model"], input_size, split)
    ids, pixels = stored_split(calib_prepared, split)
    assert ids == run["ids"]
    predictor = predictors[input_size]
    out = predictor.predict(list(pixels))

    # The mask: evaluate's argmax, image for image (its examples keep every test image here).
    kept = {e.position: e.predicted for e in run["result"].best + run["result"].worst}
    assert sorted(kept) == list(range(len(ids)))
    for position, predicted in kept.items():
        np.testing.assert_array_equal(out["mask"][position], predicted)
    # The calibrated probabilities: evaluate's softmax(logits / T), within 1e-6.
    logits = run["logits"]
    expected = np.exp(log_softmax(logits.reshape(-1, 3), TEMPERATURE)).reshape(logits.shape)
    np.testing.assert_allclose(out["probabilities"], expected, rtol=0, atol=1e-6)
    # ... whose NLL on the test labels is evaluate's calibrated NLL.
    chosen = np.take_along_axis(out["probabilities"], run["labels"][..., None], axis=-1)
    nll = float(-np.log(chosen.astype(np.float64)).mean())
    assert nll == pytest.approx(run["result"].nll["calibrated"], rel=1e-6)


@pytest.mark.parametrize("input_size", [16, SIZE], ids=["area-resized", "stored-size"])
def test_raw_files_png_and_pixels_give_identical_outputs(
    calib_prepared: Path, predictors: dict, input_size: int
) -> None:
    ids, pixels = stored_split(calib_prepared, "train")
    raw = raw_image_bytes(calib_prepared, ids)
    # The raw files (JPEG and PNG, other sizes) decode and resize to exactly the stored pixels.
    np.testing.assert_array_equal(to_batch(raw, pixels.shape[1:3]), pixels)
    predictor = predictors[input_size]
    from_pixels = predictor.predict(list(pixels))
    for inputs in (raw, [png_bytes(image) for image in pixels]):
        out = predictor.predict(inputs)
        for name in predictor.outputs:
            np.testing.assert_array_equal(out[name], from_pixels[name])


def test_outputs_have_the_documented_shapes_and_dtypes(predictors: dict) -> None:
    predictor = predictors[16]
    rng = np.random.default_rng(3)
    inputs = [
        rng.integers(0, 256, (50, 70, 3), dtype=np.uint8),
        png_bytes(rng.integers(0, 256, (20, 90, 3), dtype=np.uint8)),
        rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8),
    ]
    out = predictor.predict(inputs)
    assert predictor.outputs == ("mask", "probabilities")
    assert predictor.default_outputs == ("mask",)
    assert predictor.classes == CLASS_NAMES == ("pet", "background", "border")
    assert set(out) == set(predictor.outputs)
    assert out["mask"].shape == (3, 16, 16) and out["mask"].dtype == np.uint8
    assert out["probabilities"].shape == (3, 16, 16, 3)
    assert out["probabilities"].dtype == np.float32
    assert set(np.unique(out["mask"])) <= {0, 1, 2}
    np.testing.assert_allclose(out["probabilities"].sum(axis=-1), 1.0, atol=1e-6)
    # Temperature scaling keeps the argmax: the mask is the most probable class.
    np.testing.assert_array_equal(out["probabilities"].argmax(axis=-1), out["mask"])


def test_a_stacked_batch_array_is_a_list_of_images(predictors: dict) -> None:
    pixels = np.random.default_rng(4).integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    predictor = predictors[16]
    stacked, listed = predictor.predict(pixels), predictor.predict(list(pixels))
    np.testing.assert_array_equal(stacked["mask"], listed["mask"])


def test_other_image_modes_are_converted_as_ingest_converts_them(predictors: dict) -> None:
    rng = np.random.default_rng(5)
    grey = rng.integers(0, 256, (40, 30), dtype=np.uint8)
    rgba = rng.integers(0, 256, (40, 30, 4), dtype=np.uint8)
    predictor = predictors[16]
    out = predictor.predict([png_bytes(grey), png_bytes(rgba)])
    expected = predictor.predict([np.stack([grey] * 3, axis=-1), rgba[..., :3].copy()])
    np.testing.assert_array_equal(out["probabilities"], expected["probabilities"])


def test_concurrent_requests_get_the_same_answers(predictors: dict) -> None:
    pixels = np.random.default_rng(6).integers(0, 256, (3, 48, 48, 3), dtype=np.uint8)
    predictor = predictors[16]
    expected = predictor.predict(list(pixels))["probabilities"]
    results: list[Any] = [None] * 4

    def call(slot: int) -> None:
        results[slot] = predictor.predict(list(pixels))["probabilities"]

    threads = [threading.Thread(target=call, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        np.testing.assert_array_equal(result, expected)


def test_without_determinism_params_the_answers_are_the_same(
    served: dict, predictors: dict
) -> None:
    from stages.serve import load

    pixels = np.random.default_rng(7).integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    plain = load(served[16], serve_params(16, determinism=False))
    np.testing.assert_array_equal(
        plain.predict(list(pixels))["probabilities"],
        predictors[16].predict(list(pixels))["probabilities"],
    )
