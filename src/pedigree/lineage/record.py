"""The lineage record: what one stage run read, wrote, ran and ran in.

One JSON file per run. It never lives inside a stage's outputs, so writing it cannot change an
output's bytes, and its hashes are DVC's (`pedigree.lineage.hashing`), so it can be checked
against dvc.lock at any time.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA = "pedigree.lineage/v1"
Status = Literal["running", "succeeded", "failed", "interrupted"]
Kind = Literal["data", "code", "environment"]


class Frozen(BaseModel):
    """Immutable, and strict about unknown keys when a record is read back."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Artifact(Frozen):
    """A path and its DVC content hash (`md5`, `.dir` suffix for folders)."""

    path: str
    md5: str
    size: int
    nfiles: int | None = None
    kind: Kind = "data"


class Code(Frozen):
    """The code that ran: git state and the hash of each code folder the stage depends on."""

    git_commit: str | None
    git_dirty: bool | None
    folders: dict[str, str] = Field(default_factory=dict)  # path -> DVC hash
    pedigree_version: str


class Container(Frozen):
    """The image a stage ran in (set by a container or cluster executor)."""

    image: str
    digest: str | None = None


class Environment(Frozen):
    """Interpreter, platform, locked package set and the settings results depend on."""

    python: str
    implementation: str
    platform: str
    machine: str
    cpu_count: int | None
    lock: dict[str, str]  # {"path", "sha256"} of the stage's requirements.lock
    packages: dict[str, str]  # key package -> installed version
    threads: dict[str, Any]
    determinism: dict[str, Any]
    container: Container | None = None


class StateSnapshot(Frozen):
    """State a stage read that outlives runs (the model registry), as a content-addressed copy.

    `pedigree verify` puts the copy back at `path` to replay the stage as it ran.
    """

    path: str  # where the stage read the state (project-relative when inside the project)
    snapshot: str  # the copy taken when the stage read it
    sha256: str


class LineageRecord(Frozen):
    """One stage run."""

    schema_: str = Field(SCHEMA, alias="schema")
    stage: str
    run_id: str
    pipeline: str | None = None  # the spec dvc.yaml was generated from
    started: str  # ISO 8601, UTC
    ended: str
    argv: list[str]
    cmd: str
    exit_code: int
    status: Status
    params: dict[str, Any]
    inputs: list[Artifact]
    outputs: list[Artifact]
    code: Code
    environment: Environment
    seeds: dict[str, Any]
    state: dict[str, StateSnapshot] = Field(default_factory=dict)

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def to_json(self) -> str:
        """Stable JSON text (sorted keys, 2-space indent, trailing newline)."""
        import json

        return json.dumps(self.model_dump(by_alias=True), indent=2, sort_keys=True) + "\n"

    def output(self, path: str) -> Artifact | None:
        """The output recorded at exactly `path`."""
        return next((o for o in self.outputs if o.path == path), None)

    @property
    def data_inputs(self) -> list[Artifact]:
        """Inputs that are data (outputs of other stages or raw sources), not code or locks."""
        return [i for i in self.inputs if i.kind == "data"]


def key_paths(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as {"a.b.c": leaf}, keys sorted; an empty mapping is itself a leaf."""
    if not isinstance(value, dict) or not value:
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key in sorted(value):
        flat.update(key_paths(value[key], f"{prefix}.{key}" if prefix else str(key)))
    return flat
