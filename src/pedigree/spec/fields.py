"""The field types of a pipeline spec: names, paths, argv lists, quantities, params keys.

Each is an annotated type whose validator says what is wrong and how to write it instead
(`SpecValueError`); the models of `pedigree.spec.model` and `pedigree.spec.replication` are
built from them.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from pedigree.spec.text import (
    LINE_BREAKS,
    PARAMS_HINT,
    SpecValueError,
    refuse_argo_expression,
    refuse_hidden,
    refuse_interpolation,
)

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
    refuse_hidden(value, "cmd item", LINE_BREAKS, allow="\t")
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


def _matches(pattern: re.Pattern[str], what: str, example: str) -> Callable[[str], str]:
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


def _file_name(value: str) -> str:
    # A file inside the splits folder: one plain name, no folder.
    refuse_hidden(value, "file name")
    if "/" in value or "\\" in value or value in (".", ".."):
        raise SpecValueError(
            f"{value!r} is not a plain file name", "write only the name, like splits.json"
        )
    return value


def _params_key(value: str) -> str:
    # `section.key`: the seed replicate varies, e.g. determinism.seed.
    refuse_hidden(value, "params key")
    parts = value.split(".")
    if len(parts) != 2 or not all(parts):
        raise SpecValueError(
            f"{value!r} is not a params key of the form section.key",
            "name the section of params.yaml and the key in it, like determinism.seed",
        )
    return value


FileName = Annotated[str, Field(min_length=1), AfterValidator(_file_name)]
SplitName = Annotated[str, Field(min_length=1, max_length=63), AfterValidator(_file_name)]
FieldName = Annotated[str, Field(min_length=1, max_length=63), AfterValidator(_params_section)]
ParamsKey = Annotated[str, AfterValidator(_params_key)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
