"""TensorBoard logs written from the training history, byte-identical on every run.

Keras' TensorBoard callback names its event files after the clock, host and process, and stamps
every event with the wall-clock time, so its logs differ on every run and `pedigree verify` could
never reproduce them. The same scalars are written here instead, after training, into files with
fixed names, each event stamped with its epoch number as its time (TensorBoard plots by step; the
"relative time" axis then reads in epochs). The layout is Keras': `train/` and `validation/`
runs, tags `epoch_loss` and `epoch_<metric>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

EVENT_FILE = "events.out.tfevents.0.pedigree.v2"
FILE_VERSION = "brain.Event:2"


def _runs(history: list[dict[str, Any]]) -> dict[str, list[tuple[int, str, float]]]:
    """{"train"|"validation": [(epoch, tag, value)]} from history rows (val_* go to validation)."""
    runs: dict[str, list[tuple[int, str, float]]] = {"train": [], "validation": []}
    for row in history:
        epoch = int(row["epoch"])
        for key in sorted(k for k in row if k != "epoch"):
            value = row[key]
            if not isinstance(value, int | float):
                continue
            run, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            runs[run].append((epoch, f"epoch_{name}", float(value)))
    return runs


def write_logs(folder: Path, history: list[dict[str, Any]]) -> None:
    """Write `history` as TensorBoard scalar events under `folder`/{train,validation}/."""
    import tensorflow as tf
    from tensorflow.core.framework.summary_pb2 import Summary
    from tensorflow.core.util.event_pb2 import Event

    for run, points in _runs(history).items():
        (folder / run).mkdir(parents=True, exist_ok=True)
        with tf.io.TFRecordWriter(str(folder / run / EVENT_FILE)) as writer:
            writer.write(
                Event(wall_time=0.0, step=0, file_version=FILE_VERSION).SerializeToString()
            )
            for epoch, tag, value in points:
                summary = Summary(value=[Summary.Value(tag=tag, simple_value=value)])
                event = Event(wall_time=float(epoch), step=epoch, summary=summary)
                writer.write(event.SerializeToString())
