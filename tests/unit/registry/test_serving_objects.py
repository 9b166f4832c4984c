"""The serving manifest's objects: the model server's container with its bundle, probes,
resources and restricted security, in a Deployment + Service or a KServe InferenceService."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from pedigree.bundle import BUNDLE_ENV, ServeBundle
from pedigree.registry.bundle import bundle_for_version, with_remote_uris
from pedigree.registry.serving import render_serving_manifest
from pedigree.registry.settings import ServingSettings
from tests.unit.registry.serving_data import (
    SECURE,
    SERVE,
    SETTINGS,
    SHA,
    SPLIT,
    VERSION,
    documents,
)

DEPLOYMENT_CONTAINER = "serve"


def manifest(**changes: Any) -> list[dict[str, Any]]:
    settings = ServingSettings.model_validate({**SETTINGS.model_dump(), **changes})
    return documents(render_serving_manifest("pets", VERSION, settings, SERVE))


def pod_of(deployment: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_a_deployment_and_a_service_by_default() -> None:
    assert [d["kind"] for d in manifest()] == ["Deployment", "Service"]


def test_the_container_runs_the_model_server_on_the_released_bundle() -> None:
    deployment, _ = manifest()
    (container,) = pod_of(deployment)["containers"]
    assert container["name"] == DEPLOYMENT_CONTAINER
    assert container["image"] == "pedigree/serve:0.1.0"
    assert container["command"] == [
        "python", "-m", "pedigree.serve", "--host", "0.0.0.0", "--port", "8080",
        "--files", "/tmp/models",
    ]  # fmt: skip
    env = env_of(container)
    expected = with_remote_uris(bundle_for_version("pets", SERVE, VERSION), "s3://pedigree/dvc")
    assert env[BUNDLE_ENV] == expected.to_json()  # canonical JSON: the same bundle, same bytes
    bundle = ServeBundle.from_json(env[BUNDLE_ENV])
    assert (bundle.pipeline, bundle.version, bundle.model_sha256) == ("pets", 3, SHA)
    # every file by its content address in the DVC remote the cluster pushes to
    assert {f.role: f.uri for f in bundle.files} == {
        "model": "s3://pedigree/dvc/files/md5/a1/" + "0" * 30,
        "calibration": "s3://pedigree/dvc/files/md5/b2/" + "0" * 30,
        "stats": "s3://pedigree/dvc/files/md5/f3/" + "0" * 30,
    }
    assert bundle.params == {"model": {"input_size": 64}}


def test_s3_endpoint_and_credentials_come_as_the_pipeline_steps_get_them() -> None:
    deployment, _ = manifest()
    env = env_of(pod_of(deployment)["containers"][0])
    assert env["AWS_ENDPOINT_URL"] == "http://minio.pedigree.svc.cluster.local:9000"
    assert env["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "pedigree-s3", "key": "accesskey"}}
    assert env["AWS_SECRET_ACCESS_KEY"] == {
        "secretKeyRef": {"name": "pedigree-s3", "key": "secretkey"}
    }
    # AWS S3 itself: no endpoint; a mounted or file:// remote: no S3 at all (no Secret needed)
    deployment, _ = manifest(s3_endpoint=None)
    env = env_of(pod_of(deployment)["containers"][0])
    assert "AWS_ENDPOINT_URL" not in env and "AWS_ACCESS_KEY_ID" in env
    deployment, _ = manifest(remote="file:///mnt/dvc")
    env = env_of(pod_of(deployment)["containers"][0])
    assert set(env) == {BUNDLE_ENV}
    assert "file:///mnt/dvc/files/md5/a1/" in env[BUNDLE_ENV]


def test_probes_use_the_v2_health_endpoints() -> None:
    deployment, _ = manifest()
    container = pod_of(deployment)["containers"][0]
    ready = {"path": "/v2/health/ready", "port": "http"}
    assert container["startupProbe"]["httpGet"] == ready
    assert container["readinessProbe"]["httpGet"] == ready
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    # fetching the files and importing TensorFlow may take minutes before the first ready
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


def test_resources_and_the_restricted_security_profile() -> None:
    deployment, _ = manifest()
    pod = pod_of(deployment)
    container = pod["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    assert container["securityContext"] == SECURE
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    # the only writable path: the emptyDir on /tmp, where the files are fetched to
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    assert "/tmp/models" in container["command"]


def test_settings_reach_the_objects() -> None:
    from pedigree.registry.settings import Quantities, Resources

    resources = Resources(limits=Quantities(cpu="4", memory="8Gi"))
    deployment, service = manifest(port=9000, replicas=3, resources=resources)
    container = pod_of(deployment)["containers"][0]
    assert container["command"][container["command"].index("--port") + 1] == "9000"
    assert container["ports"][0]["containerPort"] == 9000
    assert container["resources"]["limits"] == {"cpu": "4", "memory": "8Gi"}
    assert deployment["spec"]["replicas"] == 3
    assert service["spec"]["ports"][0]["port"] == 9000


def test_an_image_digest_is_used_as_is() -> None:
    image = "registry.example.com/pedigree/serve@sha256:" + "ab" * 32
    deployment, _ = manifest(image=image)
    assert pod_of(deployment)["containers"][0]["image"] == image


def test_labels_annotations_and_the_selector() -> None:
    deployment, service = manifest()
    meta = deployment["metadata"]
    assert (meta["name"], meta["namespace"]) == ("pets-segmentation", "pedigree")
    assert meta["labels"] == {
        "app.kubernetes.io/name": "pets-segmentation",
        "app.kubernetes.io/part-of": "pedigree",
        "pedigree.dev/pipeline": "pets",
        "pedigree.dev/model-version": "3",
    }
    assert meta["annotations"] == {
        "pedigree.dev/pipeline": "pets",
        "pedigree.dev/model-version": "3",
        "pedigree.dev/model-sha256": SHA,
        "pedigree.dev/test-split-sha256": SPLIT,
        "pedigree.dev/git-commit": "0123456789abcdef",
    }
    template = deployment["spec"]["template"]["metadata"]
    assert (template["labels"], template["annotations"]) == (meta["labels"], meta["annotations"])
    # the selector is immutable: the name only, never the version
    assert deployment["spec"]["selector"] == {
        "matchLabels": {"app.kubernetes.io/name": "pets-segmentation"}
    }
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}
    ]


def test_no_commit_is_written_as_unknown() -> None:
    text = render_serving_manifest("pets", replace(VERSION, git_commit=None), SETTINGS, SERVE)
    deployment, _ = documents(text)
    assert deployment["metadata"]["annotations"]["pedigree.dev/git-commit"] == "unknown"


def test_the_deployment_and_service_are_valid_kubernetes_under_strict_validation() -> None:
    from tests.support.k8s_schemas import kubernetes_errors

    for document in manifest():
        assert kubernetes_errors(document) == [], document["kind"]


# --- the KServe InferenceService ------------------------------------------------------------


def inference_service() -> dict[str, Any]:
    (isvc,) = manifest(kind="InferenceService")
    return isvc


def test_the_inference_service_runs_the_same_container() -> None:
    isvc = inference_service()
    assert (isvc["apiVersion"], isvc["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    deployment, _ = manifest()
    assert isvc["metadata"]["name"] == deployment["metadata"]["name"]
    assert isvc["metadata"]["labels"] == deployment["metadata"]["labels"]
    # the same annotations, plus raw deployment: the pod spec is used as written (no Knative)
    assert isvc["metadata"]["annotations"] == {
        **deployment["metadata"]["annotations"],
        "serving.kserve.io/deploymentMode": "RawDeployment",
    }
    predictor = isvc["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 2)
    (container,) = predictor["containers"]
    assert container["name"] == "kserve-container"  # the name KServe gives a custom predictor
    expected = {**pod_of(deployment)["containers"][0], "name": "kserve-container"}
    assert container == expected  # image, command, env, probes, resources, security
    pod = pod_of(deployment)
    for key in ("securityContext", "volumes", "automountServiceAccountToken"):
        assert predictor[key] == pod[key], key


def _unknown_keys(obj: dict[str, Any], model: type) -> list[str]:
    allowed = set(model.attribute_map.values())  # type: ignore[attr-defined]
    return sorted(set(obj) - allowed)


def test_the_inference_service_has_only_fields_kserve_knows() -> None:
    # No InferenceService schema offline: check the fields against KServe's own API models
    # (kserve's Python client), and the predictor's pod as a Pod under strict validation.
    kserve_models = pytest.importorskip("kserve.models")
    from tests.support.k8s_schemas import kubernetes_errors

    isvc = inference_service()
    assert _unknown_keys(isvc, kserve_models.V1beta1InferenceService) == []
    assert _unknown_keys(isvc["spec"], kserve_models.V1beta1InferenceServiceSpec) == []
    predictor = isvc["spec"]["predictor"]
    assert _unknown_keys(predictor, kserve_models.V1beta1PredictorSpec) == []
    assert set(isvc["metadata"]) == {"name", "namespace", "labels", "annotations"}
    pod_fields = {k: v for k, v in predictor.items() if k not in ("minReplicas", "maxReplicas")}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod_fields}
    assert kubernetes_errors(pod) == []
