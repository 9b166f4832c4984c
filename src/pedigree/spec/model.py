"""Typed, frozen models of a pipeline spec (`apiVersion: pedigree/v1`, `kind: Pipeline`).

Field-level rules live here (types, unknown keys, path shape, argv lists); rules that need the
whole pipeline (who produces what, cycles, files on disk) live in `pedigree.spec.checks`.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

API_VERSION = "pedigree/v1"
SUPPORTED_API_VERSIONS = (API_VERSION,)
STAGE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
PIPELINE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?$")
CPU = re.compile(r"^([0-9]+(\.[0-9]+)?|[0-9]+m)$")
MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")


def _repo_path(value: str) -> str:
    """Normalise a repo-relative POSIX path; refuse absolute paths and escapes."""
    if not value or not value.strip():
        raise ValueError("path is empty")
    if "\\" in value:
        raise ValueError(f"'{value}' uses backslashes; write POSIX paths like data/raw")
    if value.startswith("/") or re.match(r"^[A-Za-z]:", value):
        raise ValueError(f"'{value}' is absolute; paths are relative to the project root")
    normal = posixpath.normpath(value)
    if normal == ".." or normal.startswith("../"):
        raise ValueError(f"'{value}' escapes the project root")
    if ".." in value.split("/"):
        raise ValueError(f"'{value}' contains '..'; write the direct path ({normal})")
    if normal == ".":
        raise ValueError("path '.' is the whole project; name a file or folder inside it")
    return normal


def _argv(value: object) -> object:
    if isinstance(value, str):
        suggestion = ", ".join(shlex.split(value)) if value.strip() else "python, -m, stages.NAME"
        raise ValueError(f"cmd must be an argv list, not a string; write cmd: [{suggestion}]")
    return value


def _scalar_to_str(value: object) -> object:
    # YAML reads `cpu: 1` as an int; Kubernetes quantities are strings.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _matches(pattern: re.Pattern[str], what: str, example: str):  # noqa: ANN202
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"'{value}' is not a valid {what} (example: {example})")
        return value

    return check


RepoPath = Annotated[str, AfterValidator(_repo_path)]
Argv = Annotated[tuple[Annotated[str, Field(min_length=1)], ...], BeforeValidator(_argv)]
StageName = Annotated[str, AfterValidator(_matches(STAGE_NAME, "stage name", "transform"))]
CpuQuantity = Annotated[
    str, BeforeValidator(_scalar_to_str), AfterValidator(_matches(CPU, "CPU quantity", "500m or 2"))
]
MemoryQuantity = Annotated[
    str,
    BeforeValidator(_scalar_to_str),
    AfterValidator(_matches(MEMORY, "memory quantity", "512Mi or 2Gi")),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


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
    params: tuple[Annotated[str, Field(min_length=1)], ...] = ()
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
    state: tuple[RepoPath, ...] = ()
    description: str | None = None

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

    name: Annotated[str, AfterValidator(_matches(PIPELINE_NAME, "pipeline name", "pets"))]
    description: str | None = None
    # The git repository a cluster clones to run the pipeline (`pedigree compile --target argo`
    # makes it the default of the WorkflowTemplate's `repo` parameter).
    repository: Annotated[str, Field(min_length=1)] | None = None


class PipelineBody(_Strict):
    """External inputs and the stages."""

    inputs: tuple[RepoPath, ...] = ()
    stages: tuple[Stage, ...] = Field(min_length=1)


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

    def stage(self, name: str) -> Stage:
        """The stage called `name` (KeyError if none)."""
        for stage in self.spec.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)
