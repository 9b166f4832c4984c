"""Validating OpenLineage run events against the official spec in ../shared/schemas/openlineage.

The event is checked against `OpenLineage.json#/$defs/RunEvent` ($refs resolved), then every
facet it carries against the schema its `_schemaURL` names: a standard facet against its file in
`facets/`, a pedigree facet against the schema shipped in the package.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from pedigree.lineage.facets import SCHEMAS_DIR, schema_file
from tests.conftest import REPO_ROOT

SPEC_DIR = REPO_ROOT.parent / "shared" / "schemas" / "openlineage"
SPEC_FILE = SPEC_DIR / "OpenLineage.json"


def require_spec() -> None:
    """Skip the calling test, saying why, when the shared OpenLineage spec is not there."""
    if not SPEC_FILE.is_file():
        pytest.skip(f"OpenLineage spec not found at {SPEC_FILE} (../shared/schemas/openlineage)")


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _registry() -> Any:
    from referencing import Registry, Resource

    resources = [SPEC_FILE, *sorted((SPEC_DIR / "facets").glob("*.json"))]
    resources += sorted(SCHEMAS_DIR.glob("*.json"))
    pairs = []
    for path in resources:
        schema = _load(path)
        pairs.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(pairs)


def _validator(ref: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(
        {"$ref": ref}, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def facet_ref(schema_url: str) -> str:
    """The schema reference of a facet: its `_schemaURL`, mapped to the file that holds it."""
    base, _, pointer = schema_url.partition("#")
    if schema_file(schema_url) is not None:
        return schema_url
    name = base.rsplit("/", 1)[-1]
    path = SPEC_DIR / "facets" / name
    if not path.is_file():
        raise AssertionError(f"facet schema {schema_url} has no file {path}")
    # Versions in the client's _schemaURL may trail the spec copy: resolve by the file's own $id.
    return f"{_load(path)['$id']}#{pointer}"


def iter_facets(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, facet) for every facet of a run event."""
    found: list[tuple[str, dict[str, Any]]] = []
    for key, facet in (event["run"].get("facets") or {}).items():
        found.append((f"run.{key}", facet))
    for key, facet in (event["job"].get("facets") or {}).items():
        found.append((f"job.{key}", facet))
    for side in ("inputs", "outputs"):
        for i, dataset in enumerate(event.get(side) or []):
            for group in ("facets", "inputFacets", "outputFacets"):
                for key, facet in (dataset.get(group) or {}).items():
                    found.append((f"{side}[{i}].{group}.{key}", facet))
    return found


def validate_event(event: dict[str, Any]) -> list[str]:
    """Every schema error in `event` and its facets, as 'where: message' lines ([] = valid)."""
    spec_id = _load(SPEC_FILE)["$id"]
    errors = [
        f"event: {e.message}" for e in _validator(f"{spec_id}#/$defs/RunEvent").iter_errors(event)
    ]
    for where, facet in iter_facets(event):
        url = facet.get("_schemaURL", "")
        validator = _validator(facet_ref(url))
        errors.extend(f"{where}: {e.message}" for e in validator.iter_errors(facet))
    return errors
