"""The tf.data input pipeline over transform's shards, with split access control.

Every model stage opens splits through `SplitReader`, built with the splits the stage may see.
Tune and train may see train and validation only; calibrate adds calibration; only evaluate sees
test. Asking for any other split raises before a single byte is read, so a stage cannot leak
held-out data into model selection, whatever its code tries.

The pipeline: parse -> normalise with the train-split statistics -> (train) seeded flip ->
seeded shuffle -> batch -> prefetch. Decoded samples are cached in memory after the first epoch
(the data sets here are small: the cache holds the parsed, normalised samples).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pedigree.errors import PedigreeError, SourceError
from pedigree.stagekit import sha256_file

SPLITS = ("train", "validation", "calibration", "test")
MODEL_SELECTION = frozenset({"train", "validation"})  # tune and train
CALIBRATION = frozenset({"train", "validation", "calibration"})
STATS = "stats.json"
INDEX = "index.json"
DAMAGED = "data/prepared is damaged: re-run transform (pedigree run --stage transform -f)"


class SplitAccessError(PedigreeError):
    """A stage asked for a split it must never see."""


@dataclass(frozen=True)
class SplitFiles:
    """The shard files of one split, in order, and how many samples they hold."""

    split: str
    files: tuple[Path, ...]
    count: int


class SplitReader:
    """Opens the splits of `data/prepared` that a stage is allowed to read, and no others."""

    def __init__(self, prepared: Path, allowed: Iterable[str], stage: str) -> None:
        self.prepared = Path(prepared)
        self.allowed = frozenset(allowed)
        self.stage = stage
        unknown = self.allowed - set(SPLITS)
        if unknown:
            raise ValueError(f"unknown splits {sorted(unknown)}")

    def _check(self, split: str) -> None:
        if split not in self.allowed:
            raise SplitAccessError(
                f"stage '{self.stage}' may not read the {split} split "
                f"(allowed: {', '.join(sorted(self.allowed))})",
                "held-out splits reach only the stages that evaluate on them",
            )

    def files(self, split: str) -> SplitFiles:
        """The shards of `split` (after the access check), verified against its index.json."""
        self._check(split)
        folder = self.prepared / split
        index_path = folder / INDEX
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SourceError(
                f"{index_path} is missing", "run the transform stage (pedigree run)"
            ) from None
        except ValueError as exc:
            raise SourceError(f"{index_path} is not valid JSON: {exc}", "re-run transform") from (
                None
            )
        shards = index.get("shards", [])
        files = tuple(folder / shard["file"] for shard in shards)
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise SourceError(f"shards listed in {index_path} are missing: {missing[:3]}")
        count = int(index.get("count", 0))
        listed = sum(int(shard.get("count", 0)) for shard in shards)
        if listed != count:
            raise SourceError(
                f"{index_path} says {count} samples but its shards hold {listed}", DAMAGED
            )
        # Every byte a model sees is the byte transform wrote (and DVC hashed).
        for shard, path in zip(shards, files, strict=True):
            if "sha256" in shard and sha256_file(path) != shard["sha256"]:
                raise SourceError(f"{path} does not match the sha256 in {index_path}", DAMAGED)
        return SplitFiles(split, files, count)

    def stats(self) -> dict[str, Any]:
        """Normalisation statistics (computed by transform on the train split only)."""
        path = self.prepared / STATS
        try:
            stats = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SourceError(f"{path} is missing", "run the transform stage") from None
        if stats.get("split") != "train":
            raise SourceError(f"{path} was not computed on the train split", "re-run transform")
        return stats


_FEATURES = ("image", "trimap", "height", "width")


def parse_fn(tf: Any, stats: dict[str, Any], input_size: int) -> Any:
    """Record -> (normalised float32 image HxWx3 at input_size, int32 labels 0..2 HxW)."""
    spec = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "trimap": tf.io.FixedLenFeature([], tf.string),
        "height": tf.io.FixedLenFeature([], tf.int64),
        "width": tf.io.FixedLenFeature([], tf.int64),
    }
    mean = tf.constant(stats["mean"], tf.float32)
    std = tf.constant(stats["std"], tf.float32)
    stored = int(stats["image_size"][0])

    def parse(record: Any) -> tuple[Any, Any]:
        example = tf.io.parse_single_example(record, spec)
        height, width = example["height"], example["width"]
        image = tf.reshape(tf.io.decode_raw(example["image"], tf.uint8), [height, width, 3])
        labels = tf.reshape(tf.io.decode_raw(example["trimap"], tf.uint8), [height, width, 1])
        image = tf.ensure_shape(image, [stored, stored, 3])
        labels = tf.ensure_shape(labels, [stored, stored, 1])
        if input_size != stored:
            # Nearest for labels (area for pixels, in model_input): never interpolated.
            labels = tf.image.resize(labels, [input_size, input_size], method="nearest")
        image = model_input(tf, image, mean, std, input_size, stored)
        return image, tf.cast(labels[..., 0], tf.int32) - 1  # trimap 1,2,3 -> labels 0,1,2

    return parse


def model_input(tf: Any, image: Any, mean: Any, std: Any, input_size: int, stored: int) -> Any:
    """uint8 pixels (..., stored, stored, 3) -> what the model takes: float32 at input_size.

    Area-resized when `input_size` differs from the stored side `stored`, scaled to [0, 1] and
    normalised with the train split's per-channel `mean` and `std` (float32 tensors). One image
    or a batch: area resizing never mixes images. parse_fn applies it to every record and the
    serving predictor (stages.serve) to its requests, so both feed the model the same numbers.
    """
    if input_size != stored:
        image = tf.image.resize(image, [input_size, input_size], method="area")
    return (tf.cast(image, tf.float32) / 255.0 - mean) / std


def dataset(
    tf: Any,
    files: SplitFiles,
    stats: dict[str, Any],
    input_size: int,
    batch_size: int,
    seed: int,
    training: bool,
    limit: int | None = None,
) -> Any:
    """A batched tf.data pipeline; for training: cached, flipped and shuffled with `seed`.

    Deterministic: the same seed gives the same batches in the same order every epoch sequence
    (flip decisions are stateless functions of (seed, epoch, position)).
    """
    data = tf.data.TFRecordDataset([str(f) for f in files.files])
    count = files.count if limit is None else min(limit, files.count)
    # TFRecord files do not say how many records they hold; index.json does. Known cardinality
    # lets Keras count steps (and not warn that the input "ran out of data" every epoch).
    data = data.take(count).apply(tf.data.experimental.assert_cardinality(count))
    data = data.map(parse_fn(tf, stats, input_size), num_parallel_calls=1).cache()
    if training:
        data = data.shuffle(max(files.count, 1), seed=seed, reshuffle_each_iteration=True)
        epoch_counter = tf.data.Dataset.counter()
        data = tf.data.Dataset.zip((data, epoch_counter)).map(_flipper(tf, seed))
    return data.batch(batch_size).prefetch(2)


def _flipper(tf: Any, seed: int) -> Any:
    def flip(pair: Any, position: Any) -> tuple[Any, Any]:
        image, labels = pair
        key = tf.stack([tf.constant(seed, tf.int64), position])
        coin = tf.random.stateless_uniform([], seed=key)
        do_flip = coin < 0.5
        image = tf.cond(do_flip, lambda: tf.reverse(image, [1]), lambda: image)
        labels = tf.cond(do_flip, lambda: tf.reverse(labels, [1]), lambda: labels)
        return image, labels

    return flip
