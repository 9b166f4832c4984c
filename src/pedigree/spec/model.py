"""Typed, frozen models of a pipeline spec (`apiVersion: pedigree/v1`, `kind: Pipeline`).

Field-level rules live here (types, unknown keys, path shape, argv lists); rules that need the
whole pipeline (who produces what, cycles, files on disk) live in `pedigree.spec.checks`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from pedigree.spec.fields import (
    PIPELINE_NAME,
    PIPELINE_NAME_MAX,
    STAGE_NAME,
    STAGE_NAME_MAX,
    SUPPORTED_API_VERSIONS,
    Argv,
    CpuQuantity,
    FieldName,
    FileName,
    MemoryQuantity,
    ParamsSection,
    RepoPath,
    SplitName,
    StageName,
    StatePath,
    _description,
    _pipeline_description,
    _pipeline_name,
    _repository,
    _Strict,
)
from pedigree.spec.replication import Folds, Replication
from pedigree.spec.text import SpecValueError
from pedigree.splitrecords import INDEX_FILE, PROVENANCE_FILE, SPLITS_FILE, STATS_FILE

__all__ = [
    "PIPELINE_NAME",
    "PIPELINE_NAME_MAX",
    "STAGE_NAME",
    "STAGE_NAME_MAX",
    "SUPPORTED_API_VERSIONS",
]


class Resources(_Strict):
    """Requests (and limits) for the stage's container."""

    cpu: CpuQuantity | None = None
    memory: MemoryQuantity | None = None
    gpu: Annotated[int, Field(ge=0, le=16)] | None = None


class Stage(_Strict):
    """One containerized step: an argv, what it reads and writes, and how it runs."""

    name: StageName
    image: RepoPath | None = None
    cmd: Argv = Field(min_length=1)
    deps: tuple[RepoPath, ...] = ()
    params: tuple[ParamsSection, ...] = ()
    outs: tuple[RepoPath, ...] = ()
    metrics: tuple[RepoPath, ...] = ()
    plots: tuple[RepoPath, ...] = ()
    resources: Resources = Resources()
    retries: Annotated[int, Field(ge=0, le=10)] = 0
    # The stage also reads or writes state outside its declared files (release and its model
    # registry): its outputs cannot be restored from DVC's run-cache, it must really run.
    stateful: bool = False
    # Paths outside DVC that a stateful stage keeps between runs (release: the model registry).
    # Locally they are just folders; on a cluster they live on a persistent volume.
    state: tuple[StatePath, ...] = ()
    description: Annotated[str, AfterValidator(_description)] | None = None

    @property
    def image_dir(self) -> str:
        """Folder of the stage's image: Dockerfile and requirements.lock."""
        return self.image or f"images/{self.name}"

    @property
    def code_dir(self) -> str:
        """Folder of the stage's code; an implicit dependency."""
        return f"stages/{self.name}"

    @property
    def lock_file(self) -> str:
        """The stage's environment lock; an implicit dependency."""
        return f"{self.image_dir}/requirements.lock"

    @property
    def all_outputs(self) -> tuple[str, ...]:
        """Everything the stage writes: outs, metrics and plots."""
        return (*self.outs, *self.metrics, *self.plots)


class Metadata(_Strict):
    """Who the pipeline is."""

    name: Annotated[str, AfterValidator(_pipeline_name)]
    description: Annotated[str, AfterValidator(_pipeline_description)] | None = None
    # The git repository a cluster clones to run the pipeline (`pedigree compile --target argo`
    # makes it the default of the WorkflowTemplate's `repo` parameter).
    repository: Annotated[str, Field(min_length=1), AfterValidator(_repository)] | None = None


class SplitFiles(_Strict):
    """The records the splits stage writes in its folder (names inside `path`)."""

    splits: FileName = SPLITS_FILE  # split -> its groups and sample ids
    stats: FileName = STATS_FILE  # normalisation statistics, computed on the train split
    provenance: FileName = PROVENANCE_FILE  # one line per sample: id, group, split, source
    index: FileName = INDEX_FILE  # per split folder: its shards and count


class Splits(_Strict):
    """Which stage writes the data splits, where, and how the audit recognises them."""

    stage: StageName
    path: RepoPath  # one folder per split below it
    names: tuple[SplitName, ...] = Field(min_length=2)
    train: SplitName = "train"  # the split the normalisation statistics come from
    # The provenance field shared by samples that must never land in two splits.
    group_key: FieldName = Field(alias="groupKey")
    files: SplitFiles = SplitFiles()


class DataRoles(_Strict):
    """Data roles and hygiene rules: the splits, and who may read the held-out ones."""

    splits: Splits
    # Held-out split -> the only stages that may read it.
    held_out: dict[SplitName, tuple[StageName, ...]] = Field(default_factory=dict, alias="heldOut")
    # Model-selection stage -> the only splits it may read (plus the statistics file).
    model_selection: dict[StageName, tuple[SplitName, ...]] = Field(
        default_factory=dict, alias="modelSelection"
    )


_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_ROLE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_RESERVED_ROLES = ("model", "calibration")  # the registry's own files of every version


def _module(value: str) -> str:
    if not _MODULE.fullmatch(value):
        raise SpecValueError(
            f"{value!r} is not a Python module name",
            "write the dotted module the predictor lives in, like stages.serve",
        )
    return value


def _file_role(value: str) -> str:
    if not _ROLE.fullmatch(value):
        raise SpecValueError(
            f"{value!r} is not a file role",
            "use lowercase letters, digits and '_', starting with a letter, like stats",
        )
    if value in _RESERVED_ROLES:
        raise SpecValueError(
            f"{value!r} is one of the registry's own files ({', '.join(_RESERVED_ROLES)}): "
            "every version already brings it",
            "name only the other files the predictor reads, like stats",
        )
    return value


class Serving(_Strict):
    """What answers requests for a released model: `pedigree serve` and the serving image.

    The predictor module (project code, like a stage's) gets the version's model and
    calibration, plus `files`: paths looked up, with their hashes, in the model's recorded
    lineage, so the server reads exactly the bytes the model was trained and calibrated with.
    """

    image: RepoPath  # its requirements.in and .lock; the Dockerfile is generated
    predictor: Annotated[str, AfterValidator(_module)]
    code: tuple[RepoPath, ...] = Field(min_length=1)  # folders the serving image holds
    files: dict[Annotated[str, AfterValidator(_file_role)], RepoPath] = Field(default_factory=dict)
    params: tuple[ParamsSection, ...] = ()  # params.yaml sections, from the model's lineage

    @property
    def image_dir(self) -> str:
        """The serving image's folder, without a trailing slash."""
        return self.image.rstrip("/")

    @property
    def lock_file(self) -> str:
        """The serving image's hash-pinned environment lock."""
        return f"{self.image_dir}/requirements.lock"


class PipelineBody(_Strict):
    """External inputs, the stages, and what audit and replicate need to know about them."""

    inputs: tuple[RepoPath, ...] = ()
    stages: tuple[Stage, ...] = Field(min_length=1)
    data: DataRoles | None = None
    replicate: Replication | None = None
    serve: Serving | None = None


class PipelineSpec(_Strict):
    """A whole pipeline document."""

    api_version: Literal["pedigree/v1"] = Field(alias="apiVersion")
    kind: Literal["Pipeline"]
    metadata: Metadata
    spec: PipelineBody

    @property
    def stages(self) -> tuple[Stage, ...]:
        """The stages in declaration order."""
        return self.spec.stages

    @property
    def folds(self) -> Folds | None:
        """`spec.replicate.folds`, or None: the spec declares no fold replicate."""
        return None if self.spec.replicate is None else self.spec.replicate.folds

    def stage(self, name: str) -> Stage:
        """The stage called `name` (KeyError if none)."""
        for stage in self.spec.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)
