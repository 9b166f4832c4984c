"""Argo CD app of apps (one repoURL, one Application per environment) and the kind config."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.support.k8s_schemas import KUBERNETES_VERSION
from tests.unit.cluster_conf.builds import ARGOCD, CLUSTER_CONF, by_kind, kustomize

REPO_COMPONENT = CLUSTER_CONF / "argocd" / "repo" / "kustomization.yaml"
KIND_CONFIG = CLUSTER_CONF / "kind" / "cluster.yaml"


def _applications(relative: str) -> list[dict[str, Any]]:
    docs = kustomize(relative)
    assert docs and by_kind(docs, "Application") == docs, f"{relative}: Applications only"
    return docs


def _repo_url() -> str:
    component = yaml.safe_load(REPO_COMPONENT.read_text(encoding="utf-8"))
    [patch] = component["patches"]
    ops = {op["path"]: op["value"] for op in yaml.safe_load(patch["patch"])}
    return str(ops["/spec/source/repoURL"])


def _check_application(app: dict[str, Any]) -> None:
    assert app["apiVersion"] == "argoproj.io/v1alpha1"
    assert app["metadata"]["namespace"] == "argocd"
    assert app["metadata"]["name"].startswith("pedigree-")
    spec = app["spec"]
    assert spec["project"]
    source = spec["source"]
    assert source["repoURL"] == _repo_url()
    assert source["targetRevision"]
    assert (REPO_ROOT / source["path"]).is_dir(), f"{source['path']} does not exist"
    destination = spec["destination"]
    assert destination.get("server") or destination.get("name")
    assert destination["namespace"]
    assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


@pytest.mark.parametrize("relative", ARGOCD)
def test_applications_have_what_argo_cd_requires(relative: str) -> None:
    for app in _applications(relative):
        _check_application(app)


def test_the_root_application_syncs_the_apps_folder() -> None:
    [root] = _applications("argocd")
    assert root["metadata"]["name"] == "pedigree-root"
    assert root["spec"]["source"]["path"] == "cluster-conf/argocd/apps"
    assert root["spec"]["destination"] == {
        "server": "https://kubernetes.default.svc",
        "namespace": "argocd",
    }


def test_one_application_per_environment_syncs_its_overlay() -> None:
    apps = {a["metadata"]["name"]: a for a in _applications("argocd/apps")}
    assert set(apps) == {"pedigree-kind", "pedigree-production"}
    for env in ("kind", "production"):
        spec = apps[f"pedigree-{env}"]["spec"]
        assert spec["source"]["path"] == f"cluster-conf/overlays/{env}"
        assert spec["destination"]["namespace"] == "pedigree"
        assert "CreateNamespace=true" in spec["syncPolicy"]["syncOptions"]
    assert apps["pedigree-production"]["spec"]["destination"] == {
        "name": "production",
        "namespace": "pedigree",
    }


def test_the_repository_url_is_written_in_one_place_only() -> None:
    url = _repo_url()
    assert re.match(r"^(https://|git@|ssh://)", url), url
    holders = [
        path.relative_to(CLUSTER_CONF).as_posix()
        for path in sorted(CLUSTER_CONF.rglob("*"))
        if path.is_file() and url in path.read_text(encoding="utf-8")
    ]
    assert holders == ["argocd/repo/kustomization.yaml"]
    # No Application file sets its own source repository: they all get it from the component.
    for path in sorted((CLUSTER_CONF / "argocd").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc and doc.get("kind") == "Application":
                assert "repoURL" not in doc["spec"]["source"], path


def test_the_kind_config_is_a_pinned_kind_cluster() -> None:
    config = yaml.safe_load(KIND_CONFIG.read_text(encoding="utf-8"))
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert config["name"] == "pedigree"
    nodes = config["nodes"]
    assert [n["role"] for n in nodes] == ["control-plane"]
    image = nodes[0]["image"]
    match = re.fullmatch(r"kindest/node:v(\d+)\.(\d+)\.\d+@sha256:[0-9a-f]{64}", image)
    assert match, f"node image not pinned by tag and digest: {image}"
    # The node runs the Kubernetes version the manifests are validated against.
    major, minor, _ = KUBERNETES_VERSION.split(".")
    assert match.groups() == (major, minor)
