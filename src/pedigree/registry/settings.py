"""Where the registry lives and how its champion is served: the `release.registry` and
`release.serving` keys of params.yaml.

The release stage validates the whole `release` section (its gate settings too) and embeds
`ServingSettings`; the functions here read only these two keys, so `pedigree models` works
whatever else the section holds. Errors carry file, line and key path, like every params error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from pedigree.errors import ParamsError, Problem
from pedigree.spec.errors import problems_from_validation
from pedigree.spec.yamlsource import YamlDocument, YamlLoadError, load_yaml_file

SECTION = "release"
DEFAULT_REGISTRY = "registry"  # params.yaml names the pipeline's: registry/<pipeline>
# Full matches (`fullmatch`): a `$` anchor would also accept a trailing newline.
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
STORAGE_SCHEMES = ("s3://", "gs://", "https://", "file://")
IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")


def _dns_label(value: str) -> str:
    if not DNS1123_LABEL.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a Kubernetes name: use at most 63 lowercase letters, digits and "
            "'-', starting and ending with a letter or digit (example: pets-segmentation)"
        )
    return value


def _storage_uri(value: str) -> str:
    if not value.startswith(STORAGE_SCHEMES) or value.rstrip("/") in STORAGE_SCHEMES:
        raise ValueError(
            f"'{value}' is not a storage URI: start it with "
            + ", ".join(STORAGE_SCHEMES)
            + " (example: s3://pedigree/registry)"
        )
    return value.rstrip("/")  # `{storage_uri}/{sha256}/...` must not get a double slash


def _image(value: str) -> str:
    if not IMAGE.fullmatch(value):
        raise ValueError(f"'{value}' is not a container image (example: pedigree-serve:0.1.0)")
    return value


def _registry_path(value: str) -> str:
    from pedigree.spec.text import refuse_hidden

    if not value.strip() or "\0" in value:
        raise ValueError("the registry folder is empty (example: registry/pets)")
    refuse_hidden(value, "registry folder")
    return value


KubernetesName = Annotated[str, AfterValidator(_dns_label)]


class ServingSettings(BaseModel):
    """How the champion is served in the cluster (`release.serving` in params.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: KubernetesName
    namespace: KubernetesName = "pedigree"
    image: Annotated[str, AfterValidator(_image)]
    # cluster pods fetch a model from {storage_uri}/{sha256}/model.keras
    storage_uri: Annotated[str, AfterValidator(_storage_uri)]
    replicas: Annotated[int, Field(ge=1, le=100, strict=True)] = 1
    port: Annotated[int, Field(ge=1, le=65535, strict=True)] = 8080


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
                    "add 'serving:' with name, image and storage_uri under 'release:'",
                )
            ]
        )
    return keys.serving
