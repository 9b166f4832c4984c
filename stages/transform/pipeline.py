"""The transform stage end to end: data/raw in, data/prepared out.

Order of work, chosen so memory stays flat however large the data set is:
  1. read the manifest (small: one entry per sample) and check every file it names exists;
  2. assign every animal a split and sort each split's samples by id (ids only, no pixels);
  3. stream split by split, one decoded sample at a time, into that split's shards, while
     appending its provenance line and (train only) adding its pixels to the statistics;
  4. write stats.json and splits.json.
Everything is written into the scratch folder of `atomic_output`, so data/prepared appears
complete or not at all. Outputs of data/prepared:
  <split>/shard-NNNNN.tfrecord, <split>/index.json   for split in train/validation/calibration/test
  stats.json         per-channel mean/std of the resized train images, on the [0, 1] scale,
                     with samples_sha256: the digest of the train ids they were computed on
  splits.json        the bucket map and the animals and images of each split
  provenance.jsonl   one line per sample, in split order then id: sources, transforms, location
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pedigree.errors import SourceError
from pedigree.stagekit import atomic_output, sha256_file
from stages.transform.jsonfiles import dumps_line, write_json
from stages.transform.manifest import MANIFEST, RawSample, check_files_exist, load_manifest
from stages.transform.params import SPLITS, TransformParams
from stages.transform.sample import prepare_sample
from stages.transform.shards import SplitShardWriter, encode_example, load_tf
from stages.transform.split import group_by_split, load_group_map
from stages.transform.stats import SAMPLES_DIGEST_KEY, ChannelStats, samples_digest

STATS = "stats.json"
SPLITS_FILE = "splits.json"
PROVENANCE = "provenance.jsonl"
STATS_SPLIT = "train"  # the only split the model may learn anything from, normalisation included


@dataclass
class Summary:
    """What a run produced, for the stage's printed report."""

    samples: dict[str, int] = field(default_factory=dict)
    shards: dict[str, int] = field(default_factory=dict)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    left_out: int = 0  # samples a fold's map (transform.split.groups) left out of every split


def _splits_document(
    groups: dict[str, list[RawSample]], params: TransformParams, left_out: int
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "buckets": params.split.buckets,
        "assignment": params.split.assignment(),
        "splits": {
            split: {
                "animals": sorted({s.animal_id for s in members}),
                "images": [s.id for s in members],
                "count": len(members),
            }
            for split, members in groups.items()
        },
    }
    if params.split.groups is not None:
        # a fold's map decided the splits, not the buckets
        path = Path(params.split.groups)
        doc["groups"] = {"file": params.split.groups, "sha256": sha256_file(path)}
        doc["left_out"] = left_out
    return doc


def _provenance(
    sample: RawSample,
    split: str,
    bucket: int,
    transforms: list[dict[str, Any]],
    shard: str,
    index: int,
) -> dict[str, Any]:
    return {
        "id": sample.id,
        "animal_id": sample.animal_id,
        "split": split,
        "bucket": bucket,
        "source": {
            "image": sample.image,
            "trimap": sample.trimap,
            "image_sha256": sample.image_sha256,
            "trimap_sha256": sample.trimap_sha256,
            "raw_image_sha256": sample.raw_image_sha256,
            "raw_trimap_sha256": sample.raw_trimap_sha256,
        },
        "transforms": transforms,
        "shard": shard,
        "index": index,
    }


def run_transform(params: TransformParams, raw_dir: Path, out_dir: Path) -> Summary:
    """Build `out_dir` (data/prepared) from `raw_dir` (data/raw); return what was written.

    Raises SourceError, before anything is written, for a missing or invalid manifest, a file it
    names that is missing, or a train split left empty; and, with `out_dir` left untouched, for
    a raw file that turns out corrupt while streaming.
    """
    samples = load_manifest(raw_dir)
    check_files_exist(raw_dir, samples)
    # `samples` arrive sorted by id, and grouping keeps order, so each split is sorted by id.
    chosen = None if params.split.groups is None else load_group_map(Path(params.split.groups))
    groups, assignment = group_by_split(samples, lambda s: s.animal_id, params.split, chosen)
    left_out = len(samples) - sum(len(members) for members in groups.values())
    if not groups[STATS_SPLIT]:
        raise SourceError(
            f"{raw_dir / MANIFEST}: no sample falls into the train split, so normalisation "
            f"statistics cannot be computed ({len(samples)} samples in all)",
            "add data (params ingest) or give train more buckets (params transform.split)",
        )
    summary = Summary()
    stats = ChannelStats()
    with atomic_output(out_dir) as scratch:
        tf = load_tf()
        with (scratch / PROVENANCE).open("w", encoding="utf-8", newline="\n") as provenance:
            for split in SPLITS:
                with SplitShardWriter(tf, scratch, split, params.shard_size) as writer:
                    for sample in groups[split]:
                        prepared = prepare_sample(raw_dir, sample, params.image_size)
                        if split == STATS_SPLIT:
                            stats.add(prepared.image)
                        record = encode_example(
                            tf,
                            sample_id=sample.id,
                            animal_id=sample.animal_id,
                            class_id=sample.class_id,
                            species=sample.species,
                            image=prepared.image,
                            trimap=prepared.trimap,
                        )
                        shard, index = writer.write(record)
                        bucket = assignment[sample.animal_id][0]
                        line = _provenance(sample, split, bucket, prepared.transforms, shard, index)
                        provenance.write(dumps_line(line))
                summary.samples[split] = writer.count
                summary.shards[split] = len(writer.shards)
        stats_doc = stats.to_json(STATS_SPLIT, params.image_size)
        stats_doc[SAMPLES_DIGEST_KEY] = samples_digest(s.id for s in groups[STATS_SPLIT])
        write_json(scratch / STATS, stats_doc)
        write_json(scratch / SPLITS_FILE, _splits_document(groups, params, left_out))
    summary.mean, summary.std = stats_doc["mean"], stats_doc["std"]
    summary.left_out = left_out
    return summary
