"""The serving manifest: a Deployment and a Service that serve exactly one registered model.

The model is referenced by its sha256 (`{storage_uri}/{sha256}/model.keras`), so the manifest
pins one set of bytes; promoting or rolling back rewrites it and a GitOps sync rolls the pods.
The text is deterministic (no timestamps, fixed key order): the same champion and settings give
the same bytes, so an unchanged champion is an unchanged file in git.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pedigree.atomic import write_atomically
from pedigree.errors import RegistryError
from pedigree.registry.records import ModelVersion
from pedigree.registry.settings import ServingSettings

SERVING_DIR = Path("cluster-conf") / "serving"
CONTAINER = "serve"
RUN_AS_USER = 10001
READINESS_PATH = "/healthz"


def _labels(settings: ServingSettings, version: ModelVersion) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": settings.name,
        "app.kubernetes.io/part-of": "pedigree",
        "pedigree.dev/model-version": str(version.version),
    }


def _temperature(version: ModelVersion) -> str | None:
    value = version.calibration.get("temperature")
    return None if value is None else str(value)


def _annotations(version: ModelVersion) -> dict[str, str]:
    notes = {
        "pedigree.dev/model-sha256": version.model_sha256,
        "pedigree.dev/test-split-sha256": version.test_split_sha256,
        "pedigree.dev/git-commit": version.git_commit or "unknown",
    }
    temperature = _temperature(version)
    if temperature is not None:
        notes["pedigree.dev/temperature"] = temperature
    return notes


def _container(settings: ServingSettings, version: ModelVersion) -> dict[str, Any]:
    env = [
        {
            "name": "MODEL_URI",
            "value": f"{settings.storage_uri}/{version.model_sha256}/model.keras",
        },
        {"name": "MODEL_SHA256", "value": version.model_sha256},
        {"name": "MODEL_VERSION", "value": str(version.version)},
    ]
    temperature = _temperature(version)
    if temperature is not None:
        env.append({"name": "MODEL_TEMPERATURE", "value": temperature})
    return {
        "name": CONTAINER,
        "image": settings.image,
        "imagePullPolicy": "IfNotPresent",
        "env": env,
        "ports": [{"name": "http", "containerPort": settings.port, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": READINESS_PATH, "port": "http"},
            "initialDelaySeconds": 5,
            "periodSeconds": 10,
        },
        "resources": {
            "requests": {"cpu": "500m", "memory": "512Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # the root filesystem is read-only: the downloaded model goes to a scratch volume
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def _deployment(settings: ServingSettings, version: ModelVersion) -> dict[str, Any]:
    labels = _labels(settings, version)
    annotations = _annotations(version)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": settings.name,
            "namespace": settings.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {
            "replicas": settings.replicas,
            # the selector is immutable in Kubernetes: it must not contain the model version
            "selector": {"matchLabels": {"app.kubernetes.io/name": settings.name}},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": RUN_AS_USER,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [_container(settings, version)],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def _service(settings: ServingSettings, version: ModelVersion) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": settings.name,
            "namespace": settings.namespace,
            "labels": _labels(settings, version),
            "annotations": _annotations(version),
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": settings.name},
            "ports": [
                {"name": "http", "port": settings.port, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }


class _PlainDumper(yaml.SafeDumper):
    """Writes repeated mappings (labels, annotations) in full: anchors confuse people and diffs."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_serving_manifest(pipeline: str, version: ModelVersion, settings: ServingSettings) -> str:
    """The manifest text for serving `version` of `pipeline`'s model: same inputs, same bytes."""
    header = (
        f"# generated by pedigree release from model registry version {version.version}, "
        "do not edit: promote or roll back with `pedigree models`\n"
        f"# pipeline {pipeline}, model sha256 {version.model_sha256}\n"
    )
    documents = [_deployment(settings, version), _service(settings, version)]
    body = yaml.dump_all(
        documents,
        Dumper=_PlainDumper,
        sort_keys=False,
        default_flow_style=False,
        explicit_start=True,
        width=100,
    )
    return header + body


def serving_manifest_path(project_root: Path, pipeline: str) -> Path:
    """Where the manifest of `pipeline` lives: cluster-conf/serving/<pipeline>.yaml."""
    if not pipeline or "/" in pipeline or "\\" in pipeline or pipeline.startswith("."):
        raise RegistryError(
            f"'{pipeline}' cannot name a serving manifest file",
            "use the pipeline's metadata.name (lowercase letters, digits and '-')",
        )
    return project_root / SERVING_DIR / f"{pipeline}.yaml"


def write_serving_manifest(
    project_root: Path, pipeline: str, version: ModelVersion, settings: ServingSettings
) -> Path:
    """Write cluster-conf/serving/<pipeline>.yaml for `version`, atomically; return its path."""
    path = serving_manifest_path(project_root, pipeline)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, render_serving_manifest(pipeline, version, settings))
    return path
