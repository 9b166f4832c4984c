"""The pets predictor: request images -> the evaluate stage's mask and calibrated probabilities.

The chain, each step the pipeline's own code:
  1. stages.serve.inputs: decode (ingest's RGB rule), bilinear-resize to stats.json image_size
     with transform's `resize_image` (skipped for arrays already at that size);
  2. stages.common.data.model_input, the tensor part of evaluate's and train's parse_fn: area
     resize to params `model.input_size` (when it differs), /255, normalise with the train
     split's mean/std from stats.json;
  3. the model (stages.common.modelio.load_checked_model), training=False, all inputs in one call;
  4. evaluate's outputs: the mask is the argmax of the logits (labels 0 pet, 1 background,
     2 border: trimap values 1, 2, 3 minus one), the probabilities softmax(logits / T) through
     stages.common.metrics.log_softmax, as evaluate's calibrated measures compute them.
So a served image gets, pixel for pixel, the mask evaluate computed for it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pedigree.errors import PedigreeError, ServeError
from stages.common.data import model_input
from stages.common.determinism import configure, import_tensorflow
from stages.common.metrics import CLASS_NAMES, log_softmax
from stages.common.modelio import load_checked_model
from stages.serve.artefacts import (
    BUNDLE_HINT,
    CALIBRATION,
    MODEL,
    STATS,
    Stats,
    determinism_params,
    model_params,
    read_stats,
    read_temperature,
    role_file,
)
from stages.serve.inputs import to_batch

MASK, PROBABILITIES = "mask", "probabilities"


class PetsPredictor:
    """Segments pet images; implements pedigree.stagekit.Predictor.

    `predict` returns "mask": uint8 (N, S, S), each pixel 0 pet, 1 background or 2 border
    (`classes`), and "probabilities": float32 (N, S, S, 3), the calibrated probability of each
    class in that order; S is params.yaml model.input_size. Safe to call from several threads:
    model calls take turns (each already uses TensorFlow's whole intra-op thread pool).
    """

    outputs: tuple[str, ...] = (MASK, PROBABILITIES)
    default_outputs: tuple[str, ...] = (MASK,)
    classes: tuple[str, ...] = CLASS_NAMES  # label value -> class name

    def __init__(
        self, tf: Any, model: Any, stats: Stats, temperature: float, input_size: int
    ) -> None:
        self.input_size = input_size
        self.image_size = stats.image_size
        self.temperature = temperature
        self._tf = tf
        self._model = model
        # As parse_fn builds them: float32 constants from stats.json's numbers.
        self._mean = tf.constant(stats.mean, tf.float32)
        self._std = tf.constant(stats.std, tf.float32)
        self._lock = threading.Lock()

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        """Model logits, float32 (N, S, S, 3), for uint8 pixels (N, H, W, 3) at image_size."""
        tf = self._tf
        images = model_input(
            tf, tf.constant(pixels), self._mean, self._std, self.input_size, self.image_size[0]
        )
        with self._lock:
            logits = np.asarray(self._model(images, training=False), np.float32)
        if not np.isfinite(logits).all():
            raise ServeError("the model gave non-finite logits", "check the released model")
        return logits

    def predict(self, inputs: Sequence[bytes | Any]) -> dict[str, Any]:
        """The mask and calibrated probabilities of every input, in order (see the class doc).

        Raises BadRequestError for an input that is no usable image (stages.serve.inputs).
        """
        logits = self.logits(to_batch(inputs, self.image_size))
        classes = logits.shape[-1]
        # evaluate's calibrated probabilities: log_softmax(flat logits, T), exponentiated.
        flat = np.exp(log_softmax(logits.reshape(-1, classes), self.temperature))
        return {
            MASK: logits.argmax(axis=-1).astype(np.uint8),
            PROBABILITIES: flat.reshape(logits.shape).astype(np.float32),
        }


def _set_up_tensorflow(params: Mapping[str, Any]) -> Any:
    """Import TensorFlow set up as evaluate runs it: its thread counts and op determinism."""
    # What the stage launcher gives every stage (pedigree.launch STAGE_DEFAULTS); it counts only
    # if TensorFlow is not imported yet, so a server should load the predictor first.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    determinism = determinism_params(params)
    tf = import_tensorflow()
    if determinism is None:
        # Without the recorded thread counts, TensorFlow keeps its own; op determinism still
        # makes equal requests give equal answers.
        tf.config.experimental.enable_op_determinism()
        return tf
    try:
        # PYTHONHASHSEED matters to stages that hash Python objects; inference does not.
        configure(determinism, require_hash_seed=False)
    except RuntimeError as exc:
        raise ServeError(
            f"TensorFlow already runs with other thread counts than params.yaml determinism "
            f"({exc})",
            "load the predictor before anything in the process runs a TensorFlow op",
        ) from None
    return tf


def load(files: Mapping[str, Path], params: Mapping[str, Any]) -> PetsPredictor:
    """The predictor for a released model (the pedigree.stagekit.Predictor contract).

    `files`: "model", "calibration" and "stats", already hash-checked; `params`: "model" (and
    optionally "determinism") as recorded in the model's lineage. Raises ServeError when any is
    missing or unusable, after checking the model with one warm-up image.
    """
    input_size = model_params(params).input_size
    stats = read_stats(role_file(files, STATS))
    temperature = read_temperature(role_file(files, CALIBRATION))
    model_path = role_file(files, MODEL)
    tf = _set_up_tensorflow(params)
    try:
        model = load_checked_model(model_path, input_size)
    except PedigreeError as exc:
        raise ServeError(f"cannot serve the model: {exc.message}", BUNDLE_HINT) from None
    predictor = PetsPredictor(tf, model, stats, temperature, input_size)
    # One black image end to end: a model that cannot run fails here, before the server is ready.
    predictor.predict([np.zeros((*stats.image_size, 3), np.uint8)])
    return predictor
