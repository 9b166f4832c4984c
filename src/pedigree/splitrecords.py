"""The split records a splits stage writes and `pedigree audit` reads, in one place.

A pipeline that declares `spec.data.splits` promises four records in the splits folder (names
from `spec.data.splits.files`, defaults below):

  provenance.jsonl   one line per sample: id, its group (the field named by `groupKey`), split,
                     `source.sha256` (the sha256 of the sample's source content: an image
                     file's bytes, a row's text) and `shard` (the file of its split holding it,
                     `<split>/<file>`), plus whatever else the stage records
  splits.json        {"splits": {split: {"groups": [...], "samples": [...], "count": n}}}
  <split>/index.json {"split": split, "count": n, "shards": [{"file", "count", "sha256"}]}
  stats.json         the statistics learned from data, with `split` (the train split),
                     `count_samples` and `samples_sha256` (see `samples_digest`)

`write_split_records` writes all four from a list of `SplitSample`, so a stage never spells the
format out (stages reach it through `pedigree.stagekit`). The audit also accepts the image
vocabulary the pets pipeline writes (`source.image_sha256`, `animals`/`images`,
`count_images`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pedigree.atomic import sha256_file
from pedigree.errors import PedigreeError

SPLITS_FILE = "splits.json"
STATS_FILE = "stats.json"
PROVENANCE_FILE = "provenance.jsonl"
INDEX_FILE = "index.json"
DIGEST_KEY = "samples_sha256"
COUNT_KEY = "count_samples"
# The keys write_split_records sets in a record; a stage's own fields must not hide them.
RESERVED_LINE = ("id", "split", "source", "shard")
RESERVED_STATS = ("split", COUNT_KEY, DIGEST_KEY)


class SplitRecordsError(PedigreeError):
    """The samples given to write_split_records cannot make consistent records."""


def samples_digest(sample_ids: Iterable[str]) -> str:
    """sha256 of the sorted sample ids, each followed by a newline (UTF-8).

    stats.json carries it as `samples_sha256`, so the audit can prove which samples the
    statistics were computed on by recomputing it from the train split's ids. The definition is
    a contract between the stage and the audit.
    """
    text = "".join(f"{sample_id}\n" for sample_id in sorted(sample_ids))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SplitSample:
    """One sample as the split records describe it.

    `group`: the value of the group key (samples sharing it must stay in one split);
    `sha256`: the sha256 of the sample's source content (identical content in two splits is a
    leak even under different groups); `shard`: the name of the file inside its split's folder
    that holds it (a row-based data set may keep one file per split); `extra`: more provenance
    fields for this line (a row number, the source file), written as given.
    """

    id: str
    group: str
    split: str
    sha256: str
    shard: str
    extra: Mapping[str, Any] = field(default_factory=dict)


def _stable_line(document: Any) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"


def _stable_document(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def _check(
    out: Path, samples: Sequence[SplitSample], splits: Sequence[str], group_key: str, train: str
) -> None:
    def fail(message: str, hint: str) -> None:
        raise SplitRecordsError(message, hint)

    if train not in splits:
        fail(f"the train split '{train}' is not one of the splits {list(splits)}", "name it")
    if group_key in RESERVED_LINE:
        fail(f"group key '{group_key}' is a field the records use", "choose another field name")
    seen: dict[str, str] = {}
    for sample in samples:
        if sample.split not in splits:
            fail(
                f"sample '{sample.id}' is in split '{sample.split}', not one of {list(splits)}",
                "assign every sample one of the declared splits (spec.data.splits.names)",
            )
        if not all((sample.id, sample.group, sample.sha256, sample.shard)):
            fail(f"sample '{sample.id}' has an empty id, group, sha256 or shard", "fill them in")
        if sample.id in seen:
            fail(f"sample id '{sample.id}' appears twice", "give every sample its own id")
        seen[sample.id] = sample.split
        hidden = sorted({*RESERVED_LINE, group_key} & set(sample.extra))
        if hidden:
            fail(f"sample '{sample.id}': extra fields {hidden} are set by the records", "rename")
        shard = out / sample.split / sample.shard
        if "/" in sample.shard or not shard.is_file():
            fail(
                f"sample '{sample.id}': shard {sample.split}/{sample.shard} is not a file in {out}",
                "write each split's files into <out>/<split>/ first, then the records",
            )
    if not any(s.split == train for s in samples):
        fail(f"the train split '{train}' holds no sample", "give the train split some data")


def write_split_records(
    out: Path,
    samples: Sequence[SplitSample],
    *,
    splits: Sequence[str],
    group_key: str,
    stats: Mapping[str, Any],
    train: str = "train",
    files: Mapping[str, str] | None = None,
) -> None:
    """Write provenance, splits.json, each split's index.json and stats.json into `out`.

    `out` is the splits folder (usually the scratch folder of `atomic_output`), whose
    `<split>/<shard>` files must already exist: index.json lists them with their sha256.
    `splits`, `group_key` and `train` are what the spec declares under `spec.data.splits`
    (names, groupKey, train); `files` overrides record names as its `files` does
    (keys splits, stats, provenance, index). `stats` is what the stage learned from the train
    split (means, scales, ...); `split`, `count_samples` and `samples_sha256` are added. Lines
    and lists keep the order of `samples`; every file is stable JSON (the same samples give
    the same bytes). SplitRecordsError, before anything is written, for inconsistent samples.
    """
    out = Path(out)
    names = {"splits": SPLITS_FILE, "stats": STATS_FILE, "provenance": PROVENANCE_FILE}
    names["index"] = INDEX_FILE
    names.update(files or {})
    _check(out, samples, splits, group_key, train)
    lines = [
        _stable_line(
            {
                **s.extra,
                "id": s.id,
                group_key: s.group,
                "split": s.split,
                "source": {"sha256": s.sha256},
                "shard": f"{s.split}/{s.shard}",
            }
        )
        for s in samples
    ]
    (out / names["provenance"]).write_text("".join(lines), encoding="utf-8", newline="\n")
    parts = {}
    for split in splits:
        members = [s for s in samples if s.split == split]
        parts[split] = {
            "groups": sorted({s.group for s in members}),
            "samples": [s.id for s in members],
            "count": len(members),
        }
        shards = [
            {
                "file": shard,
                "count": sum(1 for s in members if s.shard == shard),
                "sha256": sha256_file(out / split / shard),
            }
            for shard in dict.fromkeys(s.shard for s in members)
        ]
        (out / split).mkdir(parents=True, exist_ok=True)
        index = {"split": split, "count": len(members), "shards": shards}
        (out / split / names["index"]).write_text(_stable_document(index), encoding="utf-8")
    (out / names["splits"]).write_text(_stable_document({"splits": parts}), encoding="utf-8")
    trained = [s.id for s in samples if s.split == train]
    document = {
        **stats,
        "split": train,
        COUNT_KEY: len(trained),
        DIGEST_KEY: samples_digest(trained),
    }
    (out / names["stats"]).write_text(_stable_document(document), encoding="utf-8")
