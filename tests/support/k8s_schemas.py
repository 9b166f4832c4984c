"""Validating generated Kubernetes manifests the way an API server with strict field validation
would: core kinds with `kubernetes-validate --strict` (its bundled schemas), Argo Workflows kinds
against the official schema in ../shared/schemas/argo-workflows with unknown keys rejected.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

ARGO_SCHEMA = REPO_ROOT.parent / "shared" / "schemas" / "argo-workflows" / "schema.json"
ARGO_KINDS = {
    "Workflow": "io.argoproj.workflow.v1alpha1.Workflow",
    "WorkflowTemplate": "io.argoproj.workflow.v1alpha1.WorkflowTemplate",
    "ClusterWorkflowTemplate": "io.argoproj.workflow.v1alpha1.ClusterWorkflowTemplate",
    "CronWorkflow": "io.argoproj.workflow.v1alpha1.CronWorkflow",
}
KUBERNETES_VERSION = "1.33.0"


def require_argo_schema() -> None:
    """Skip the calling test, saying why, when the shared Argo schema is not there."""
    if not ARGO_SCHEMA.is_file():
        pytest.skip(f"Argo Workflows schema not found at {ARGO_SCHEMA} (../shared/schemas)")


def _close(node: Any) -> None:
    # The published schema does not reject unknown keys; the API server does (strict field
    # validation), so every object definition that lists its properties is closed here.
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict) and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close(value)
    elif isinstance(node, list):
        for value in node:
            _close(value)


@cache
def _argo_schema() -> dict[str, Any]:
    schema = json.loads(ARGO_SCHEMA.read_text(encoding="utf-8"))
    strict = copy.deepcopy(schema)
    _close(strict["definitions"])
    return strict


def argo_errors(obj: dict[str, Any]) -> list[str]:
    """Every schema violation of an Argo object (kind taken from the object), unknown keys too."""
    from jsonschema import Draft202012Validator

    require_argo_schema()
    kind = obj.get("kind")
    if kind not in ARGO_KINDS:
        return [f"not an Argo Workflows kind: {kind!r}"]
    schema = _argo_schema()
    root = {
        "$schema": schema["$schema"],
        "definitions": schema["definitions"],
        "$ref": f"#/definitions/{ARGO_KINDS[kind]}",
    }
    validator = Draft202012Validator(root)
    return sorted(
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(obj)
    )


def kubernetes_errors(obj: dict[str, Any], version: str = KUBERNETES_VERSION) -> list[str]:
    """Schema violations of a core Kubernetes object under strict validation ([] when valid)."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = "/".join(str(p) for p in exc.path) or "<root>"
        return [f"{path}: {exc.message}"]
    return []


def load_documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of a manifest file (empty documents dropped)."""
    import yaml

    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def step_pod(template: dict[str, Any], name: str, step: dict[str, Any]) -> dict[str, Any]:
    """The pod Argo makes of one container step of a WorkflowTemplate (for kubernetes_errors)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "serviceAccountName": template["spec"]["serviceAccountName"],
            "securityContext": template["spec"]["securityContext"],
            "containers": [{"name": "main", **step["container"]}],
            "volumes": step["volumes"],
            "activeDeadlineSeconds": int(step["activeDeadlineSeconds"]),
        },
    }
