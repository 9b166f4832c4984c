"""Where the registry lives and how its champion is served: the `release.registry` and
`release.serving` keys of params.yaml.

The release stage validates the whole `release` section (its gate settings too) and embeds
`ServingSettings`; the functions here read only these two keys, so `pedigree models` works
whatever else the section holds. Errors carry file, line and key path, like every params error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from pedigree import __version__
from pedigree.compile.argo import DEFAULT_REMOTE, DEFAULT_S3_ENDPOINT
from pedigree.errors import ParamsError, Problem
from pedigree.spec.errors import problems_from_validation
from pedigree.spec.yamlsource import YamlDocument, YamlLoadError, load_yaml_file

SECTION = "release"
DEFAULT_REGISTRY = "registry"  # params.yaml names the pipeline's: registry/<pipeline>
# `make images` tags the serving image pedigree/serve:<version>; production pins it by digest
DEFAULT_IMAGE = f"pedigree/serve:{__version__}"
# The remote and endpoint defaults are the compiled WorkflowTemplate's (`remote`, `s3-endpoint`):
# the DVC remote the cluster's steps push to, and MinIO's address inside the cluster.
# Full matches (`fullmatch`): a `$` anchor would also accept a trailing newline.
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
REMOTE_SCHEMES = ("s3://", "gs://", "https://", "file://")
IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")
ENDPOINT = re.compile(r"https?://[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?")
# Kubernetes quantities: cpu as 500m, 1, 1.5; memory as 512Mi, 2Gi, 1G (no exponent forms)
CPU = re.compile(r"[0-9]+(\.[0-9]+)?m?")
MEMORY = re.compile(r"[0-9]+(\.[0-9]+)?([KMGTPE]i?)?")


def _dns_label(value: str) -> str:
    if not DNS1123_LABEL.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a Kubernetes name: use at most 63 lowercase letters, digits and "
            "'-', starting and ending with a letter or digit (example: pets-segmentation)"
        )
    return value


def _remote(value: str) -> str:
    bare = value.rstrip("/")
    spaced = not value.isprintable() or " " in value  # it goes into every file's URI
    if not value.startswith(REMOTE_SCHEMES) or bare in REMOTE_SCHEMES or spaced:
        raise ValueError(
            f"'{value}' is not a DVC remote URL: start it with "
            + ", ".join(REMOTE_SCHEMES)
            + f" (example: {DEFAULT_REMOTE})"
        )
    return bare  # `<remote>/files/md5/...` must not get a double slash


def _image(value: str) -> str:
    if not IMAGE.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a container image (example: {DEFAULT_IMAGE}, or by digest "
            "pedigree/serve@sha256:<digest>)"
        )
    return value


def _endpoint(value: str) -> str:
    if not ENDPOINT.fullmatch(value.rstrip("/")):
        raise ValueError(
            f"'{value}' is not an S3 endpoint URL: write http(s)://host[:port] "
            f"(example: {DEFAULT_S3_ENDPOINT})"
        )
    return value.rstrip("/")


def _cpu(value: str) -> str:
    if not CPU.fullmatch(value):
        raise ValueError(f"'{value}' is not a CPU quantity (examples: 500m, 1, 2)")
    return value


def _memory(value: str) -> str:
    if not MEMORY.fullmatch(value):
        raise ValueError(f"'{value}' is not a memory quantity (examples: 512Mi, 2Gi)")
    return value


def _registry_path(value: str) -> str:
    from pedigree.spec.text import refuse_hidden

    if not value.strip() or "\0" in value:
        raise ValueError("the registry folder is empty (example: registry/pets)")
    refuse_hidden(value, "registry folder")
    return value


KubernetesName = Annotated[str, AfterValidator(_dns_label)]


class Quantities(BaseModel):
    """CPU and memory of a container's requests or limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu: Annotated[str, AfterValidator(_cpu)]
    memory: Annotated[str, AfterValidator(_memory)]


class Resources(BaseModel):
    """What the server's container asks for and may use: TensorFlow alone takes about 500 MB."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: Quantities = Quantities(cpu="500m", memory="1Gi")
    limits: Quantities = Quantities(cpu="2", memory="2Gi")


class ServingSettings(BaseModel):
    """How the champion is served in the cluster (`release.serving` in params.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: KubernetesName
    namespace: KubernetesName = "pedigree"
    # Deployment + Service, or a KServe InferenceService (serving.kserve.io/v1beta1)
    kind: Literal["Deployment", "InferenceService"] = "Deployment"
    image: Annotated[str, AfterValidator(_image)] = DEFAULT_IMAGE
    # the DVC remote the cluster pushes to: a pod fetches each file of the model from its
    # content address there, <remote>/files/md5/<md5[:2]>/<md5[2:]>
    remote: Annotated[str, AfterValidator(_remote)] = DEFAULT_REMOTE
    # AWS_ENDPOINT_URL for an s3:// remote (null: AWS S3 itself)
    s3_endpoint: Annotated[str, AfterValidator(_endpoint)] | None = DEFAULT_S3_ENDPOINT
    replicas: Annotated[int, Field(ge=1, le=100, strict=True)] = 1
    port: Annotated[int, Field(ge=1, le=65535, strict=True)] = 8080
    resources: Resources = Resources()

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "storage_uri" in data:
            raise ValueError(
                "'storage_uri' is now 'remote': the DVC remote the cluster pushes to (the "
                f"model is fetched by its content hash there); write 'remote: {DEFAULT_REMOTE}'"
            )
        return data

    @property
    def s3(self) -> bool:
        """Whether pods reach the remote over S3 (endpoint and credentials in their env)."""
        return self.remote.startswith("s3://")


class RegistryKeys(BaseModel):
    """The two keys of the `release` section this module owns; the others are ignored here."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    registry: Annotated[str, AfterValidator(_registry_path)] = DEFAULT_REGISTRY
    serving: ServingSettings | None = None


def _display(params_file: Path) -> str:
    return params_file.name if params_file.parent == Path(".") else str(params_file)


def _read(params_file: Path, key: str, need_file: bool) -> tuple[YamlDocument | None, RegistryKeys]:
    """`key` validated (the other key is not looked at), or the defaults when params.yaml or its
    release section is absent."""
    if not params_file.is_file() and not need_file:
        return None, RegistryKeys()
    try:
        doc = load_yaml_file(params_file, _display(params_file))
    except YamlLoadError as exc:
        raise ParamsError([exc.problem]) from None
    data = doc.data if isinstance(doc.data, dict) else {}
    section: Any = data.get(SECTION)
    if section is None:
        return doc, RegistryKeys()
    if not isinstance(section, dict):
        raise ParamsError(
            [doc.problem((SECTION,), f"'{SECTION}' must be a mapping", f"write '{SECTION}:' keys")]
        )
    # only the key asked for: `pedigree models list` must work while serving is misconfigured
    owned = {key: section[key]} if key in section else {}
    try:
        return doc, RegistryKeys.model_validate(owned)
    except ValidationError as exc:
        raise ParamsError(problems_from_validation(exc, RegistryKeys, doc, (SECTION,))) from None


def registry_root(project_root: Path, params_file: Path, override: Path | None) -> Path:
    """The registry folder: `override` (relative to the working directory, like any flag), else
    `release.registry` (relative to the project root), else `registry`."""
    if override is not None:
        return Path(override).resolve()
    _, keys = _read(params_file, "registry", need_file=False)
    return resolve_registry(project_root, keys.registry)


def resolve_registry(project_root: Path, value: str) -> Path:
    """`release.registry` as a folder: absolute as written, else under the project root."""
    path = Path(value)
    return path if path.is_absolute() else (project_root / path).resolve()


def serving_settings(params_file: Path) -> ServingSettings:
    """The validated `release.serving` settings; ParamsError (located) when missing or invalid."""
    doc, keys = _read(params_file, "serving", need_file=True)
    if keys.serving is None:
        file = doc.file if doc is not None else _display(params_file)
        line = doc.line_of((SECTION,)) if doc is not None else None
        raise ParamsError(
            [
                Problem(
                    file,
                    line,
                    f"{SECTION}.serving",
                    f"required key '{SECTION}.serving' is missing",
                    "add 'serving:' under 'release:' with at least 'name' (see docs/registry.md)",
                )
            ]
        )
    return keys.serving
