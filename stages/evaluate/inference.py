"""Running the trained model over the test split (TensorFlow), measured by compute.

Only the test split is opened, through SplitReader with evaluate's own access list. The model is
checked against params.yaml `model.input_size` and the class count before any inference, and run
with training=False (no dropout), one batch at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pedigree.errors import SourceError
from stages.common.data import SplitReader, dataset
from stages.common.modelio import load_checked_model
from stages.evaluate.compute import SPLIT, Result, evaluate_model, read_sample_ids

EVALUATE_SPLITS = frozenset({SPLIT})  # evaluate may read the test split and nothing else


@dataclass(frozen=True)
class SplitRun:
    """The measures (with every image's predictions) and the normalisation statistics (to show
    the example images and to write the inputs' pixels back)."""

    result: Result
    mean: list[float]
    std: list[float]


def evaluate_split(
    model_path: str,
    prepared_path: str,
    input_size: int,
    batch_size: int,
    seed: int,
    temperature: float,
    bins: int,
    examples: int,
) -> SplitRun:
    """Measure the model on the whole test split (determinism must be configured first)."""
    import tensorflow as tf

    reader = SplitReader(Path(prepared_path), EVALUATE_SPLITS, "evaluate")
    stats = reader.stats()
    files = reader.files(SPLIT)
    if not files.count:
        raise SourceError(f"the test split in {prepared_path} is empty", "re-run transform")
    model = load_checked_model(Path(model_path), input_size)
    ids = read_sample_ids(tf, files)
    batches = dataset(tf, files, stats, input_size, batch_size, seed, training=False)
    result = evaluate_model(model, batches, ids, temperature, bins, examples, predictions=True)
    return SplitRun(result, list(stats["mean"]), list(stats["std"]))
