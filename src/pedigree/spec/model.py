"""Typed, frozen models of a pipeline spec (`apiVersion: pedigree/v1`, `kind: Pipeline`).

Field-level rules live here (types, unknown keys, path shape, argv lists); rules that need the
whole pipeline (who produces what, cycles, files on disk) live in `pedigree.spec.checks`.
"""

from __future__ import annotations

import posixpath
import re
import shlex
import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

API_VERSION = "pedigree/v1"
SUPPORTED_API_VERSIONS = (API_VERSION,)
# Full matches only (`re.fullmatch`): a `$` anchor would also accept a trailing newline.
# A stage name becomes a Kubernetes label value, an Argo template and task name (DNS-1123
# label) and an image name component (`pedigree/<stage>`): lowercase, starting with a letter,
# ending with a letter or digit.
STAGE_NAME = re.compile(r"[a-z]([a-z0-9-]{0,39}[a-z0-9])?")
STAGE_NAME_MAX = 41
# The pipeline name becomes label values, the WorkflowTemplate's name and Workflow names.
PIPELINE_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?")
PIPELINE_NAME_MAX = 52
CPU = re.compile(r"([0-9]+(\.[0-9]+)?|[0-9]+m)")
MEMORY = re.compile(r"[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?")
# DVC replaces `${...}` in every string of dvc.yaml (cmd, deps, outs, params) with values from
# params.yaml before the shell sees the command: a quoted argv item is no protection.
DVC_INTERPOLATION = "${"
# Argo evaluates `{{...}}` in the strings of a WorkflowTemplate.
ARGO_EXPRESSION = "{{"
PARAMS_HINT = (
    "let the stage read its parameters from params.yaml "
    "(e.g. cmd: [python, -m, stages.NAME, --params, params.yaml]) and list the sections "
    "under 'params:'"
)
# Control characters (C0, DEL, C1), invisible format characters (bidi overrides, zero-width)
# and Unicode line breaks: a name or path holding one is not what it looks like.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})
_LINE_BREAKS = frozenset({"Cc", "Zl", "Zp"})


class SpecValueError(ValueError):
    """A field's value is invalid; `hint` says how to fix it (shown with the located problem)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


_CONTROL_NAMES = {"\0": "NUL", "\t": "tab", "\n": "newline", "\r": "carriage return", "\x7f": "DEL"}


def _char_name(char: str) -> str:
    name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def hidden_char(value: str, categories: frozenset[str] = _HIDDEN, allow: str = "") -> str | None:
    """The first character of `value` in the Unicode `categories` (not in `allow`), if any."""
    for char in value:
        if char not in allow and unicodedata.category(char) in categories:
            return char
    return None


def refuse_hidden(
    value: str, what: str, categories: frozenset[str] = _HIDDEN, allow: str = ""
) -> None:
    """SpecValueError when `value` holds a control or invisible character."""
    char = hidden_char(value, categories, allow)
    if char is not None:
        raise SpecValueError(
            f"{what} {value!r} contains the control or invisible character {_char_name(char)}: "
            "names, paths and commands must be exactly what they look like",
            "remove the character",
        )


def refuse_interpolation(value: str, what: str, hint: str) -> None:
    """SpecValueError when `value` holds DVC's `${`: DVC would substitute it in dvc.yaml."""
    if DVC_INTERPOLATION in value:
        raise SpecValueError(
            f"{what} {value!r} contains '${{': DVC would replace ${{...}} with a value from "
            "params.yaml when it reads dvc.yaml, before the command runs",
            hint,
        )


def refuse_argo_expression(value: str, what: str) -> None:
    """SpecValueError when `value` holds Argo's `{{`: Argo would evaluate it."""
    if ARGO_EXPRESSION in value:
        raise SpecValueError(
            f"{what} {value!r} contains '{{{{': Argo would evaluate {{{{...}}}} as an "
            "expression in the WorkflowTemplate",
            "write the value literally, without '{{'",
        )


def _repo_path(value: str) -> str:
    """Normalise a repo-relative POSIX path; refuse absolute paths, escapes, hidden characters
    and DVC interpolation."""
    if not value or not value.strip():
        raise ValueError("path is empty")
    refuse_hidden(value, "path")
    refuse_interpolation(value, "path", "write the path literally, without '${'")
    if "\\" in value:
        raise ValueError(f"'{value}' uses backslashes; write POSIX paths like data/raw")
    if value.startswith("/") or re.match(r"[A-Za-z]:", value):
        raise ValueError(f"'{value}' is absolute; paths are relative to the project root")
    normal = posixpath.normpath(value)
    if normal == ".." or normal.startswith("../"):
        raise ValueError(f"'{value}' escapes the project root")
    if ".." in value.split("/"):
        raise ValueError(f"'{value}' contains '..'; write the direct path ({normal})")
    if normal == ".":
        raise ValueError("path '.' is the whole project; name a file or folder inside it")
    return normal


def _state_path(value: str) -> str:
    # A state path becomes a volume's mountPath and subPath in the WorkflowTemplate.
    refuse_argo_expression(value, "state path")
    return value


def _argv(value: object) -> object:
    if isinstance(value, str):
        suggestion = ", ".join(shlex.split(value)) if value.strip() else "python, -m, stages.NAME"
        raise ValueError(f"cmd must be an argv list, not a string; write cmd: [{suggestion}]")
    return value


def _argv_item(value: str) -> str:
    # A tab is a legitimate argument (a field separator); line breaks and NUL are not.
    refuse_hidden(value, "cmd item", _LINE_BREAKS, allow="\t")
    refuse_interpolation(value, "cmd item", PARAMS_HINT)
    return value


def _params_section(value: str) -> str:
    refuse_hidden(value, "params section")
    refuse_interpolation(value, "params section", "name a section of params.yaml, like train")
    return value


def _scalar_to_str(value: object) -> object:
    # YAML reads `cpu: 1` as an int; Kubernetes quantities are strings.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _matches(pattern: re.Pattern[str], what: str, example: str):  # noqa: ANN202
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid {what} (example: {example})")
        return value

    return check


def _dns_name(
    value: str, pattern: re.Pattern[str], what: str, where: str, longest: int, example: str
) -> str:
    """`value` if it fully matches `pattern`, else a SpecValueError saying which rule it breaks."""
    if pattern.fullmatch(value):
        return value
    refuse_hidden(value, what)
    rules = f"{where}, which must be lowercase letters, digits and '-'"
    if not value:
        reason = "is empty"
    elif len(value) > longest:
        reason = f"is {len(value)} characters long (at most {longest})"
    elif value.endswith("-"):
        reason = "ends with '-'"
        rules = f"{where}, which must end with a letter or digit"
    elif value[0] == "-" or not pattern.fullmatch(value[0]):
        reason = f"starts with {value[0]!r}"
        rules = f"{where}, which must start with a " + (
            "lowercase letter" if what == "stage name" else "lowercase letter or digit"
        )
    else:
        bad = next(
            (c for c in value if not (c in "-" or c.isdigit() or c.islower()) or not c.isascii()),
            value[0],
        )
        reason = f"contains {bad!r}"
    raise SpecValueError(
        f"{value!r} is not a valid {what}: it {reason}; a {what} becomes {rules}",
        f"use a name like '{example}'",
    )


def _stage_name(value: str) -> str:
    return _dns_name(
        value,
        STAGE_NAME,
        "stage name",
        "a Kubernetes label, an Argo task name and an image name",
        STAGE_NAME_MAX,
        "transform",
    )


def _pipeline_name(value: str) -> str:
    return _dns_name(
        value,
        PIPELINE_NAME,
        "pipeline name",
        "a Kubernetes label and the name of the Argo WorkflowTemplate and Workflows",
        PIPELINE_NAME_MAX,
        "pets",
    )


def _repository(value: str) -> str:
    from pedigree.redact import has_credentials, url_without_credentials

    refuse_hidden(value, "repository")
    refuse_argo_expression(value, "repository")
    # The spec is committed and the URL is compiled into the WorkflowTemplate and lineage.
    if has_credentials(value):
        raise SpecValueError(
            f"repository {url_without_credentials(value)!r} carries a user name or password "
            "in its URL",
            "write the URL without them; a cluster gets a private repository's credentials "
            "from the Secret pedigree-git (see cluster-conf/README.md)",
        )
    return value


def _description(value: str) -> str:
    # Free text: line breaks are fine (the image label puts it on one line), NUL is not.
    if "\0" in value:
        raise SpecValueError(
            "the description contains a NUL character (U+0000)", "remove the character"
        )
    return value


def _pipeline_description(value: str) -> str:
    # It becomes an annotation of the WorkflowTemplate.
    refuse_argo_expression(_description(value), "description")
    return value


RepoPath = Annotated[str, AfterValidator(_repo_path)]
StatePath = Annotated[RepoPath, AfterValidator(_state_path)]
Argv = Annotated[
    tuple[Annotated[str, Field(min_length=1), AfterValidator(_argv_item)], ...],
    BeforeValidator(_argv),
]
StageName = Annotated[str, AfterValidator(_stage_name)]
ParamsSection = Annotated[str, Field(min_length=1), AfterValidator(_params_section)]
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
