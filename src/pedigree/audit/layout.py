"""Where the splits live, read from the spec's `data` section rather than assumed.

`spec.data.splits` names the stage that writes the splits, the folder holding one folder per
split, the split names, the split the normalisation statistics come from, the provenance field
grouping samples, and the record files. What that stage reads holds the source data of every
split. Every check asks this module for paths, so renaming a stage or moving a folder in the spec
moves every check with it. A spec without `data` makes the split checks not applicable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pedigree.errors import PedigreeError
from pedigree.spec.model import DataRoles, PipelineSpec, SplitFiles

DECLARE_HINT = (
    "declare the splits under spec.data in the spec (stage, path, names, groupKey; see "
    "docs/spec.md) to enable this check"
)


class LayoutError(PedigreeError):
    """The pipeline does not say where its splits are."""


class NotApplicable(PedigreeError):
    """The spec declares no data splits, so the split checks cannot apply."""


@dataclass(frozen=True)
class SplitLayout:
    """The split producer, its output folder, the split names and the producer's data inputs."""

    producer: str
    prepared: str
    splits: tuple[str, ...]
    sources: tuple[str, ...]
    train: str = "train"
    group_key: str = field(kw_only=True)  # no default: every pipeline names its own
    files: SplitFiles = field(default_factory=SplitFiles)
    held_out: dict[str, tuple[str, ...]] = field(default_factory=dict)
    model_selection: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def split_path(self, split: str) -> str:
        """The folder of one split (`data/prepared/test`)."""
        return f"{self.prepared}/{split}"

    @property
    def stats_path(self) -> str:
        """The normalisation statistics (`data/prepared/stats.json`)."""
        return f"{self.prepared}/{self.files.stats}"

    @property
    def splits_file(self) -> str:
        """The split assignment (`data/prepared/splits.json`)."""
        return f"{self.prepared}/{self.files.splits}"

    @property
    def provenance_path(self) -> str:
        """Per-sample provenance (`data/prepared/provenance.jsonl`)."""
        return f"{self.prepared}/{self.files.provenance}"

    @property
    def rerun(self) -> str:
        """How to fix records the splits stage wrote wrongly."""
        return (
            f"re-run {self.producer} (`pedigree run --stage {self.producer} --force`) "
            "or `dvc checkout` it"
        )

    def index_path(self, split: str) -> str:
        """One split's shard index (`data/prepared/test/index.json`)."""
        return f"{self.split_path(split)}/{self.files.index}"


def declared_roles(spec: PipelineSpec) -> DataRoles:
    """The spec's data roles; NotApplicable saying what to declare when it has none."""
    if spec.spec.data is None:
        raise NotApplicable("cannot apply: the spec declares no data splits", DECLARE_HINT)
    return spec.spec.data


def derive_layout(root: Path, spec: PipelineSpec) -> SplitLayout:
    """The split layout the spec declares (`root` kept for callers; the spec says it all).

    NotApplicable when the spec has no `data` section; a spec that names a missing stage never
    gets here (`pedigree.spec.checks` refuses it).
    """
    del root  # the layout comes from the spec alone
    roles = declared_roles(spec)
    splits = roles.splits
    producer = spec.stage(splits.stage)
    return SplitLayout(
        producer=producer.name,
        prepared=splits.path,
        splits=splits.names,
        sources=tuple(producer.deps),
        train=splits.train,
        group_key=splits.group_key,
        files=splits.files,
        held_out=dict(roles.held_out),
        model_selection=dict(roles.model_selection),
    )
