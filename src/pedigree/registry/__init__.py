"""The model registry: every released model, its evidence, and which one is the champion.

The embedded default keeps its records in one SQLite file and the models, content-addressed, in
an artifact folder next to it (`release.registry` in params.yaml, default `.pedigree/registry`).
The release stage calls `Registry.release` with a gate; people use `pedigree models` to list,
inspect, promote and roll back. The champion is served through the manifest that `serving`
writes to cluster-conf/serving/<pipeline>.yaml.
"""

from __future__ import annotations

from pedigree.registry.records import (
    Candidate,
    Decide,
    Event,
    GateDecision,
    ModelVersion,
    Reason,
    ReleaseOutcome,
)
from pedigree.registry.serving import render_serving_manifest, write_serving_manifest
from pedigree.registry.settings import ServingSettings, registry_root, serving_settings
from pedigree.registry.store import Registry

__all__ = [
    "Candidate",
    "Decide",
    "Event",
    "GateDecision",
    "ModelVersion",
    "Reason",
    "Registry",
    "ReleaseOutcome",
    "ServingSettings",
    "registry_root",
    "render_serving_manifest",
    "serving_settings",
    "write_serving_manifest",
]
