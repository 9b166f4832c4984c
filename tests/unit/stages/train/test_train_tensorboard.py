"""TensorBoard logs from the history: readable by TensorFlow's event reader, and byte-stable."""

from __future__ import annotations

from pathlib import Path

from stages.train.tensorboard import EVENT_FILE, write_logs

HISTORY = [
    {"epoch": 1, "loss": 1.5, "val_loss": 1.25, "val_mean_iou": 0.5},
    {"epoch": 2, "loss": 1.0, "val_loss": 1.125, "val_mean_iou": 0.625},
]


def _events(path: Path) -> list[tuple[float, int, str, float]]:
    import tensorflow as tf
    from tensorflow.core.util.event_pb2 import Event

    rows = []
    for raw in tf.data.TFRecordDataset(str(path)):
        event = Event.FromString(raw.numpy())
        for value in event.summary.value:
            rows.append((event.wall_time, event.step, value.tag, value.simple_value))
    return rows


def test_scalars_per_run(tmp_path: Path) -> None:
    write_logs(tmp_path, HISTORY)
    assert _events(tmp_path / "train" / EVENT_FILE) == [
        (1.0, 1, "epoch_loss", 1.5),
        (2.0, 2, "epoch_loss", 1.0),
    ]
    assert _events(tmp_path / "validation" / EVENT_FILE) == [
        (1.0, 1, "epoch_loss", 1.25),
        (1.0, 1, "epoch_mean_iou", 0.5),
        (2.0, 2, "epoch_loss", 1.125),
        (2.0, 2, "epoch_mean_iou", 0.625),
    ]


def test_byte_identical_whenever_written(tmp_path: Path) -> None:
    write_logs(tmp_path / "a", HISTORY)
    write_logs(tmp_path / "b", HISTORY)
    for run in ("train", "validation"):
        first = (tmp_path / "a" / run / EVENT_FILE).read_bytes()
        assert first == (tmp_path / "b" / run / EVENT_FILE).read_bytes()
    assert (tmp_path / "a" / "train" / EVENT_FILE).stat().st_size > 0
