"""Write one split's samples as TFRecord shards, streamed, plus its index.json.

Layout of `<out>/<split>/`: `shard-00000.tfrecord`, `shard-00001.tfrecord`, ... with
`shard_size` records each (the last may hold fewer), uncompressed, and `index.json` listing
every shard with its record count and sha256. A split without samples has only index.json
(count 0), so every split folder exists and later stages can read the same file everywhere.

Each record is a `tf.train.Example` serialised with `deterministic=True` (map entries sorted),
so identical samples give identical bytes. TensorFlow is imported lazily, inside `load_tf`, so
code that only splits or resizes never pays its multi-second import.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import numpy as np

from pedigree.stagekit import sha256_file
from stages.common.pets import CAT, DOG
from stages.transform.jsonfiles import write_json

SPECIES_CODES = {"cat": CAT, "dog": DOG}
INDEX = "index.json"


def shard_name(number: int) -> str:
    """File name of shard `number` (0-based): shard-00000.tfrecord."""
    return f"shard-{number:05d}.tfrecord"


def load_tf() -> ModuleType:
    """Import TensorFlow quietly (C++ info logs and the oneDNN banner off) and return it."""
    # setdefault: a user who asked for TF's logs through the environment still gets them.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # no numeric ops here; silences banner
    import tensorflow as tf

    return tf


def encode_example(
    tf: ModuleType,
    *,
    sample_id: str,
    animal_id: str,
    class_id: int,
    species: str,
    image: np.ndarray,
    trimap: np.ndarray,
) -> bytes:
    """One sample as serialised `tf.train.Example` bytes (image HxWx3 and trimap HxW uint8)."""
    height, width = trimap.shape
    if image.shape != (height, width, 3) or image.dtype != np.uint8 or trimap.dtype != np.uint8:
        raise ValueError(f"image {image.shape} {image.dtype} / trimap {trimap.shape} mismatch")

    def ints(value: int) -> Any:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    def raw(value: bytes) -> Any:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    feature = {
        "id": raw(sample_id.encode("utf-8")),
        "animal_id": raw(animal_id.encode("utf-8")),
        "class_id": ints(class_id),
        "species": ints(SPECIES_CODES[species]),
        "height": ints(height),
        "width": ints(width),
        # tobytes(order="C") whatever the array's layout: readers reshape to (H, W, 3).
        "image": raw(image.tobytes(order="C")),
        "trimap": raw(trimap.tobytes(order="C")),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)


class SplitShardWriter:
    """Streams records of one split into numbered shards; at most one shard file is open.

    Use as a context manager; `write` returns where the record went, and leaving the block
    without an error closes the last shard and writes index.json.
    """

    def __init__(self, tf: ModuleType, out_dir: Path, split: str, shard_size: int) -> None:
        self.tf = tf
        self.split = split
        self.folder = out_dir / split
        self.shard_size = shard_size
        self.shards: list[dict[str, Any]] = []
        self._writer: Any = None
        self._in_shard = 0
        self.count = 0

    def __enter__(self) -> SplitShardWriter:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def write(self, record: bytes) -> tuple[str, int]:
        """Append one serialised record; return (shard path relative to out, index in shard)."""
        if self._writer is None or self._in_shard == self.shard_size:
            self._close_shard()
            name = shard_name(len(self.shards))
            # Empty compression type: plain TFRecord, readable by any TFRecord reader.
            options = self.tf.io.TFRecordOptions(compression_type="")
            self._writer = self.tf.io.TFRecordWriter(str(self.folder / name), options=options)
            self.shards.append({"file": name, "count": 0})
            self._in_shard = 0
        self._writer.write(record)
        index = self._in_shard
        self._in_shard += 1
        self.count += 1
        self.shards[-1]["count"] = self._in_shard
        return f"{self.split}/{self.shards[-1]['file']}", index

    def _close_shard(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            current = self.shards[-1]
            current["sha256"] = sha256_file(self.folder / current["file"])

    def index(self) -> dict[str, Any]:
        """The index.json document of this split (call after the block closed)."""
        return {"split": self.split, "count": self.count, "shards": self.shards}

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            # The whole output folder is being discarded by atomic_output; just release the file.
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            return
        self._close_shard()
        write_json(self.folder / INDEX, self.index())
