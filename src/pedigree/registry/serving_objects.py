"""The Kubernetes objects that serve one registered model.

One container runs the serving image's model server (`python -m pedigree.serve`, KServe's
Open Inference Protocol over REST) with the version's serve bundle in `PEDIGREE_SERVE_BUNDLE`:
every file by its content address in the DVC remote and its hashes, which the server checks
before it reports ready. Around that container: a Deployment and a ClusterIP Service, or a KServe
InferenceService (`serving.kserve.io/v1beta1`, a custom predictor in raw deployment mode, so
the pod spec is used as written). Pure: the same inputs give the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pedigree.bundle import BUNDLE_ENV, ServeBundle
from pedigree.compile.argo_step import S3_SECRET
from pedigree.registry.records import ModelVersion
from pedigree.registry.settings import ServingSettings

CONTAINER = "serve"
# KServe names a custom predictor's container kserve-container, and looks for it by that name
KSERVE_CONTAINER = "kserve-container"
KSERVE_API = "serving.kserve.io/v1beta1"
# Raw deployment: KServe makes a plain Deployment and Service of the predictor (no Knative, whose
# pod spec subset forbids some of the fields below). KServe 0.17 calls it Standard and still
# accepts this name; earlier releases know only this one.
KSERVE_MODE = {"serving.kserve.io/deploymentMode": "RawDeployment"}
RUN_AS_USER = 10001
FILES_DIR = "/tmp/models"  # on the emptyDir: the root filesystem is read-only
LIVE_PATH = "/v2/health/live"
READY_PATH = "/v2/health/ready"
S3_ENV = (("AWS_ACCESS_KEY_ID", "accesskey"), ("AWS_SECRET_ACCESS_KEY", "secretkey"))


@dataclass(frozen=True)
class Served:
    """What one manifest serves: a registered version of a pipeline's model, its serve bundle
    (file URIs in the DVC remote) and the cluster settings."""

    pipeline: str
    version: ModelVersion
    bundle: ServeBundle
    settings: ServingSettings


def object_labels(served: Served) -> dict[str, str]:
    """Object and pod labels (the selector uses the name only: it is immutable)."""
    return {
        "app.kubernetes.io/name": served.settings.name,
        "app.kubernetes.io/part-of": "pedigree",
        "pedigree.dev/pipeline": served.pipeline,
        "pedigree.dev/model-version": str(served.version.version),
    }


def object_annotations(served: Served) -> dict[str, str]:
    """Which model, judged on which test split, made from which commit."""
    version = served.version
    return {
        "pedigree.dev/pipeline": served.pipeline,
        "pedigree.dev/model-version": str(version.version),
        "pedigree.dev/model-sha256": version.model_sha256,
        "pedigree.dev/test-split-sha256": version.test_split_sha256,
        "pedigree.dev/git-commit": version.git_commit or "unknown",
    }


def _env(served: Served) -> list[dict[str, Any]]:
    settings = served.settings
    env: list[dict[str, Any]] = [{"name": BUNDLE_ENV, "value": served.bundle.to_json()}]
    if settings.s3:
        # the same endpoint and Secret as the pipeline's steps, which pushed the files there
        if settings.s3_endpoint is not None:
            env.append({"name": "AWS_ENDPOINT_URL", "value": settings.s3_endpoint})
        env += [
            {"name": name, "valueFrom": {"secretKeyRef": {"name": S3_SECRET, "key": key}}}
            for name, key in S3_ENV
        ]
    return env


def _probe(path: str, period: int, failures: int, timeout: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def container(served: Served, name: str = CONTAINER) -> dict[str, Any]:
    """The model server's container (the same for a Deployment and an InferenceService)."""
    settings = served.settings
    resources = settings.resources
    return {
        "name": name,
        "image": settings.image,
        "imagePullPolicy": "IfNotPresent",
        "command": [
            "python",
            "-m",
            "pedigree.serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(settings.port),
            "--files",
            FILES_DIR,
        ],
        "env": _env(served),
        "ports": [{"name": "http", "containerPort": settings.port, "protocol": "TCP"}],
        # ready only once every file is fetched, hash-checked and the model loaded (TensorFlow's
        # import alone takes seconds): up to 10 minutes before the kubelet gives up on the pod;
        # liveness starts after that, so a slow start is never restarted half-way
        "startupProbe": _probe(READY_PATH, period=5, failures=120, timeout=2),
        "readinessProbe": _probe(READY_PATH, period=10, failures=3, timeout=2),
        "livenessProbe": _probe(LIVE_PATH, period=20, failures=3, timeout=5),
        "resources": {
            "requests": {"cpu": resources.requests.cpu, "memory": resources.requests.memory},
            "limits": {"cpu": resources.limits.cpu, "memory": resources.limits.memory},
        },
        # the restricted Pod Security profile, and a read-only root filesystem
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # the model's files and any scratch go to the emptyDir
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def _pod(served: Served, container_name: str) -> dict[str, Any]:
    """The pod spec's fields (a Deployment's template and a KServe predictor share them)."""
    return {
        # the server never talks to the Kubernetes API
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "fsGroup": RUN_AS_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container(served, container_name)],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }


def _metadata(served: Served) -> dict[str, Any]:
    return {
        "name": served.settings.name,
        "namespace": served.settings.namespace,
        "labels": object_labels(served),
        "annotations": object_annotations(served),
    }


def deployment(served: Served) -> dict[str, Any]:
    """The Deployment running `settings.replicas` model servers."""
    name = served.settings.name
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(served),
        "spec": {
            "replicas": served.settings.replicas,
            # the selector is immutable in Kubernetes: it must not contain the model version
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {
                    "labels": object_labels(served),
                    "annotations": object_annotations(served),
                },
                "spec": _pod(served, CONTAINER),
            },
        },
    }


def service(served: Served) -> dict[str, Any]:
    """The ClusterIP Service in front of the Deployment's pods."""
    settings = served.settings
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(served),
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": settings.name},
            "ports": [
                {"name": "http", "port": settings.port, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }


def inference_service(served: Served) -> dict[str, Any]:
    """A KServe InferenceService whose custom predictor is the same pod as the Deployment's."""
    replicas = served.settings.replicas
    metadata = _metadata(served)
    metadata["annotations"] = {**metadata["annotations"], **KSERVE_MODE}
    return {
        "apiVersion": KSERVE_API,
        "kind": "InferenceService",
        "metadata": metadata,
        "spec": {
            "predictor": {
                # a fixed number of servers, as with the Deployment
                "minReplicas": replicas,
                "maxReplicas": replicas,
                **_pod(served, KSERVE_CONTAINER),
            }
        },
    }


def serving_objects(served: Served) -> list[dict[str, Any]]:
    """The objects of the manifest, in order: Deployment and Service, or the InferenceService."""
    if served.settings.kind == "InferenceService":
        return [inference_service(served)]
    return [deployment(served), service(served)]
