"""Where the splits live, derived from the pipeline rather than assumed.

The producer of the splits is the `transform` stage (DESIGN.md). Its output folder is the
prepared data (`data/prepared` in the default pipeline), the split names are the keys of
params.yaml `transform.split` (minus `buckets`) together with those splits.json records, and
what the producer reads (`data/raw`) holds the source images of every split. Every check asks
this module for paths, so renaming a folder in the spec moves every check with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pedigree.errors import PedigreeError
from pedigree.spec.model import PipelineSpec, Stage

PRODUCER = "transform"
PARAMS_FILE = "params.yaml"
SPLIT_PARAMS = ("transform", "split")
NOT_A_SPLIT = frozenset({"buckets"})
SPLITS_FILE = "splits.json"
STATS_FILE = "stats.json"
PROVENANCE_FILE = "provenance.jsonl"
INDEX_FILE = "index.json"


class LayoutError(PedigreeError):
    """The pipeline does not say where its splits are."""


@dataclass(frozen=True)
class SplitLayout:
    """The split producer, its output folder, the split names and the producer's data inputs."""

    producer: str
    prepared: str
    splits: tuple[str, ...]
    sources: tuple[str, ...]

    def split_path(self, split: str) -> str:
        """The folder of one split (`data/prepared/test`)."""
        return f"{self.prepared}/{split}"

    @property
    def stats_path(self) -> str:
        """The normalisation statistics (`data/prepared/stats.json`)."""
        return f"{self.prepared}/{STATS_FILE}"

    @property
    def splits_file(self) -> str:
        """The split assignment (`data/prepared/splits.json`)."""
        return f"{self.prepared}/{SPLITS_FILE}"

    @property
    def provenance_path(self) -> str:
        """Per-sample provenance (`data/prepared/provenance.jsonl`)."""
        return f"{self.prepared}/{PROVENANCE_FILE}"

    def index_path(self, split: str) -> str:
        """One split's shard index (`data/prepared/test/index.json`)."""
        return f"{self.split_path(split)}/{INDEX_FILE}"


def _producer(spec: PipelineSpec) -> Stage:
    for stage in spec.stages:
        if stage.name == PRODUCER:
            return stage
    raise LayoutError(
        f"the pipeline has no '{PRODUCER}' stage, so the audit cannot tell where the splits are",
        f"name the stage that writes the train/validation/calibration/test splits '{PRODUCER}'",
    )


def _prepared_folder(root: Path, stage: Stage) -> str:
    if not stage.outs:
        raise LayoutError(
            f"stage '{stage.name}' declares no outs, so the audit cannot tell where the splits are",
            "declare its output folder (e.g. outs: [data/prepared]) in the spec",
        )
    # Several outs: the one holding splits.json is the prepared data.
    for out in stage.outs:
        if (root / out / SPLITS_FILE).is_file():
            return out
    return stage.outs[0]


def _params_splits(root: Path) -> tuple[str, ...]:
    from pedigree.spec.yamlsource import YamlLoadError, load_yaml_file

    path = root / PARAMS_FILE
    if not path.is_file():
        return ()
    try:
        data: Any = load_yaml_file(path, PARAMS_FILE).data
    except YamlLoadError as exc:
        raise LayoutError(
            exc.problem.render(), "fix params.yaml (`pedigree validate` checks it)"
        ) from None
    for key in SPLIT_PARAMS:
        data = data.get(key) if isinstance(data, dict) else None
    if not isinstance(data, dict):
        return ()
    return tuple(str(k) for k in data if k not in NOT_A_SPLIT)


def _recorded_splits(root: Path, prepared: str) -> tuple[str, ...]:
    path = root / prepared / SPLITS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()  # missing or unreadable: the split-leakage check reports it
    splits = data.get("splits") if isinstance(data, dict) else None
    return tuple(str(k) for k in splits) if isinstance(splits, dict) else ()


def derive_layout(root: Path, spec: PipelineSpec) -> SplitLayout:
    """The split layout of the project at `root`; LayoutError when it cannot be worked out."""
    producer = _producer(spec)
    prepared = _prepared_folder(root, producer)
    names = list(_params_splits(root))
    names += [s for s in _recorded_splits(root, prepared) if s not in names]
    if not names:
        where = f"{PARAMS_FILE} {'.'.join(SPLIT_PARAMS)}"
        raise LayoutError(
            f"no split names in {where} or {prepared}/{SPLITS_FILE}",
            f"declare the splits in {where} (train, validation, calibration, test)",
        )
    return SplitLayout(producer.name, prepared, tuple(names), tuple(producer.deps))
