"""pedigree's custom OpenLineage run facets and where their JSON schemas live.

Two run facets carry what the standard facets have no place for:

- `pedigree_environment` (`EnvironmentRunFacet`): interpreter, platform, the stage's lock hash,
  key package versions, thread and determinism settings, container image and digest;
- `pedigree_code` (`CodeRunFacet`): git commit and dirty flag, the DVC hash of every code folder,
  the command, argv and seeds.

Each facet's `_schemaURL` is the `$id` of a JSON schema shipped in this package
(`pedigree/lineage/schemas/*.json`) plus the `#/$defs/...` pointer, as OpenLineage's own facets
do. The project has no public web address yet, so the ids are URNs; `schema_file` maps one back
to the shipped file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import attr
from openlineage.client.generated.base import RunFacet

from pedigree import __version__

SCHEMAS_DIR = Path(__file__).parent / "schemas"
SCHEMA_BASE = "urn:pedigree:lineage:schemas:1-0-0:"
ENVIRONMENT_FACET = "pedigree_environment"
CODE_FACET = "pedigree_code"
# Identifies pedigree as the producer of events and facets (a URI, as the spec requires).
PRODUCER = f"urn:pedigree:{__version__}"


def schema_url(name: str) -> str:
    """The `_schemaURL` of custom facet `name` (e.g. "EnvironmentRunFacet")."""
    return f"{SCHEMA_BASE}{name}.json#/$defs/{name}"


def schema_file(url: str) -> Path | None:
    """The shipped schema file a custom facet's `_schemaURL` names; None for other URLs."""
    if not url.startswith(SCHEMA_BASE):
        return None
    path = SCHEMAS_DIR / url[len(SCHEMA_BASE) :].split("#", 1)[0]
    return path if path.is_file() else None


@attr.define
class EnvironmentRunFacet(RunFacet):
    """The environment one stage run ran in (see schemas/EnvironmentRunFacet.json)."""

    python: str
    implementation: str
    platform: str
    machine: str
    cpuCount: int | None = attr.field(default=None)  # noqa: N815 - OpenLineage's camelCase
    lock: dict[str, str] | None = attr.field(default=None)
    packages: dict[str, str] = attr.field(factory=dict)
    threads: dict[str, Any] = attr.field(factory=dict)
    determinism: dict[str, Any] = attr.field(factory=dict)
    container: dict[str, str] | None = attr.field(default=None)

    _additional_skip_redact: ClassVar[list[str]] = ["python", "platform", "packages"]

    @staticmethod
    def _get_schema() -> str:
        return schema_url("EnvironmentRunFacet")


@attr.define
class CodeRunFacet(RunFacet):
    """The code one stage run ran (see schemas/CodeRunFacet.json)."""

    folders: dict[str, str]
    pedigreeVersion: str  # noqa: N815
    command: str
    argv: list[str]
    gitCommit: str | None = attr.field(default=None)  # noqa: N815
    gitDirty: bool | None = attr.field(default=None)  # noqa: N815
    exitCode: int | None = attr.field(default=None)  # noqa: N815
    seeds: dict[str, Any] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return schema_url("CodeRunFacet")
