"""Does the input pipeline starve training? Steps/s fed from the TFRecord shards vs in memory.

In one process (seeds, threads and op determinism as params.yaml says): the default model
trains on the train split fed (a) by the real pipeline over the shards (parse, normalise,
seeded flip and shuffle, batch, prefetch) and (b) by the same batches already decoded into
in-memory tensors. Epochs alternate between the two after a warm-up of each; the script prints
the median steps/s of each and their ratio. Goal: shards / memory >= 0.9.

    .venv/bin/python benchmarks/input_pipeline.py [--epochs 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYTHONHASHSEED", "0")  # recorded; this process only benchmarks

from pedigree.stagekit import load_params  # noqa: E402
from stages.common.data import MODEL_SELECTION, SplitReader, dataset  # noqa: E402
from stages.common.determinism import DeterminismParams, configure  # noqa: E402
from stages.common.training import Hyperparameters, ModelParams, build_and_compile  # noqa: E402

GOAL = 0.9


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs per feed")
    args = parser.parse_args()
    params = ROOT / "params.yaml"
    model_params = load_params("model", ModelParams, params)
    det = load_params("determinism", DeterminismParams, params)
    configure(det)
    import tensorflow as tf

    reader = SplitReader(ROOT / "data" / "prepared", MODEL_SELECTION, "benchmark")
    files = reader.files("train")
    hp = Hyperparameters(
        learning_rate=1e-3,
        batch_size=16,
        base_filters=model_params.base_filters,
        dropout=model_params.dropout,
    )
    shards = dataset(
        tf, files, reader.stats(), model_params.input_size, hp.batch_size, det.seed, True
    )
    batches = list(shards)  # one pass, decoded: the same batches, held as tensors
    images = tf.concat([b[0] for b in batches], 0)
    labels = tf.concat([b[1] for b in batches], 0)
    memory = tf.data.Dataset.from_tensor_slices((images, labels)).batch(hp.batch_size)
    steps = len(batches)
    model = build_and_compile(model_params, hp)
    feeds = {"shards": shards, "memory": memory}
    for data in feeds.values():  # warm-up: tracing and the shard cache
        model.fit(data, epochs=1, verbose=0)
    rates: dict[str, list[float]] = {name: [] for name in feeds}
    for i in range(args.epochs):
        order = list(feeds) if i % 2 == 0 else list(reversed(feeds))
        for name in order:
            started = time.perf_counter()
            model.fit(feeds[name], epochs=1, verbose=0)
            rates[name].append(steps / (time.perf_counter() - started))
    shard_rate, memory_rate = (statistics.median(rates[n]) for n in ("shards", "memory"))
    print(f"train split: {files.count} samples, {steps} steps of {hp.batch_size} per epoch")
    print(f"from shards:    {shard_rate:.2f} steps/s (median of {args.epochs} epochs)")
    print(f"from memory:    {memory_rate:.2f} steps/s")
    verdict = "met" if shard_rate / memory_rate >= GOAL else "NOT met"
    print(f"ratio shards / memory: {shard_rate / memory_rate:.3f} (goal >= {GOAL}: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
