"""Determinism for every model stage: seeds, op determinism, fixed threads, recorded.

Call `configure()` first thing in a stage, before TensorFlow runs any op. PYTHONHASHSEED cannot
be set here (Python reads it at start-up): the stage launcher (`python -m pedigree.launch`) sets
it before the interpreter starts, and `configure()` refuses to run without it so a stage can
never silently train with a random hash seed.
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pedigree.errors import PedigreeError


class DeterminismParams(BaseModel):
    """params.yaml `determinism`: one seed and the thread counts (they change results)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(ge=0, le=2**31 - 1)
    intra_op_threads: int = Field(ge=1, le=256)
    inter_op_threads: int = Field(ge=1, le=256)
    op_determinism: bool = True


@dataclass(frozen=True)
class DeterminismRecord:
    """What was actually in force, for lineage and for the stage's outputs."""

    seed: int
    python_hash_seed: str
    op_determinism: bool
    intra_op_threads: int
    inter_op_threads: int
    tensorflow: str
    keras: str
    onednn_opts: str

    def to_dict(self) -> dict[str, Any]:
        """As a plain dict."""
        return asdict(self)


def import_tensorflow() -> ModuleType:
    """Import TensorFlow with its C++ logging quiet."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def configure(params: DeterminismParams, require_hash_seed: bool = True) -> DeterminismRecord:
    """Seed Python, NumPy and TensorFlow, fix thread counts, and turn on op determinism."""
    hash_seed = os.environ.get("PYTHONHASHSEED", "")
    if require_hash_seed and (not hash_seed or hash_seed == "random"):
        raise PedigreeError(
            "PYTHONHASHSEED is not fixed: it must be set before Python starts",
            "run the stage through `pedigree run` or `python -m pedigree.launch --stage NAME --`",
        )
    tf = import_tensorflow()
    import keras

    # Threads must be fixed before TensorFlow creates its thread pools (its first op).
    tf.config.threading.set_intra_op_parallelism_threads(params.intra_op_threads)
    tf.config.threading.set_inter_op_parallelism_threads(params.inter_op_threads)
    random.seed(params.seed)
    np.random.seed(params.seed)
    keras.utils.set_random_seed(params.seed)  # Python, NumPy and TensorFlow's global seed
    if params.op_determinism:
        tf.config.experimental.enable_op_determinism()
    return DeterminismRecord(
        seed=params.seed,
        python_hash_seed=hash_seed,
        op_determinism=params.op_determinism,
        intra_op_threads=params.intra_op_threads,
        inter_op_threads=params.inter_op_threads,
        tensorflow=tf.__version__,
        keras=keras.__version__,
        onednn_opts=os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
    )
