"""The kubernetes adapter: kubeconfig loading, and every API failure as one clear error.

Requests go over real HTTP with the real `kubernetes` client to kmock's mock API server.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from pedigree.cluster.kube import PodGoneError, StatusBody, connect
from pedigree.errors import ClusterError, ClusterRequestError, RunNotFoundError
from tests.unit.cluster.kube_mock import (
    NAMESPACE,
    RUN,
    WORKFLOWS,
    MockArgo,
    in_thread,
    pod,
    status_body,
    write_kubeconfig,
)

WORKFLOW = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {}}


def _create() -> dict[str, Any]:
    with connect() as kube:
        return kube.create_workflow(NAMESPACE, {**WORKFLOW, "metadata": {"generateName": "pets-"}})


def _get(run: str = RUN) -> dict[str, Any]:
    with connect() as kube:
        return kube.get_workflow(NAMESPACE, run)


def test_connect_uses_the_current_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_kubeconfig(tmp_path / "config", "https://k8s.example:6443", namespace="ml")
    monkeypatch.setenv("KUBECONFIG", str(path))
    with connect() as kube:
        assert (kube.context, kube.server, kube.namespace) == (
            "mock",
            "https://k8s.example:6443",
            "ml",
        )


def test_connect_refuses_an_unknown_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "config", "https://x")))
    with pytest.raises(ClusterError, match=r"no context 'prod' in the kubeconfig .*contexts: mock"):
        connect("prod")


def test_connect_without_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(
        ClusterError, match=r"no usable Kubernetes configuration in .*missing"
    ) as exc:
        connect()
    assert exc.value.exit_code == 4 and "KUBECONFIG" in (exc.value.hint or "")


def test_connection_refused_names_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "config", server)))
    with pytest.raises(ClusterError, match=rf"cannot reach .* at {server} .*connection refused"):
        _get()


@pytest.mark.asyncio
async def test_create_returns_the_stored_object(argo: MockArgo) -> None:
    argo.accept_submit("pets-abcde")
    created = await in_thread(_create)
    assert created["metadata"]["name"] == "pets-abcde"


@pytest.mark.asyncio
async def test_401_says_the_credentials_were_rejected(argo: MockArgo) -> None:
    argo.fail(f"get {WORKFLOWS}/{RUN}", 401, status_body(401, "Unauthorized", "Unauthorized"))
    with pytest.raises(ClusterError, match=r"rejected the credentials \(401") as exc:
        await in_thread(_get)
    assert "refresh your credentials for context 'mock'" in (exc.value.hint or "")


@pytest.mark.asyncio
async def test_403_names_verb_resource_and_namespace(argo: MockArgo) -> None:
    said = 'User "jane" cannot create resource "workflows" in the namespace "pedigree"'
    argo.fail(f"post {WORKFLOWS}", 403, status_body(403, "Forbidden", said, kind="workflows"))
    with pytest.raises(
        ClusterError,
        match=r"forbidden: you may not create workflows 'pets-' in namespace 'pedigree'.*jane",
    ) as exc:
        await in_thread(_create)
    assert "RBAC" in (exc.value.hint or "") and "pedigree-pipeline" in (exc.value.hint or "")


@pytest.mark.asyncio
async def test_404_on_get_is_run_not_found(argo: MockArgo) -> None:
    said = f'workflows.argoproj.io "{RUN}" not found'
    argo.fail(f"get {WORKFLOWS}/{RUN}", 404, status_body(404, "NotFound", said, kind="workflows"))
    with pytest.raises(RunNotFoundError, match=rf"no run '{RUN}' in namespace 'pedigree'") as exc:
        await in_thread(_get)
    assert exc.value.exit_code == 2


@pytest.mark.asyncio
async def test_404_without_the_workflow_crd_says_install_argo(argo: MockArgo) -> None:
    argo.fail(f"post {WORKFLOWS}", 404, b"404 page not found\n")
    with pytest.raises(ClusterError, match=r"does not know Argo Workflows") as exc:
        await in_thread(_create)
    assert "kubectl apply -k cluster-conf/overlays/kind" in (exc.value.hint or "")


@pytest.mark.asyncio
async def test_404_for_a_missing_namespace(argo: MockArgo) -> None:
    body = status_body(404, "NotFound", 'namespaces "pedigree" not found', kind="namespaces")
    argo.fail(f"post {WORKFLOWS}", 404, body)
    with pytest.raises(ClusterError, match=r"namespace 'pedigree' does not exist"):
        await in_thread(_create)


@pytest.mark.asyncio
async def test_409_already_exists(argo: MockArgo) -> None:
    said = 'workflows.argoproj.io "pets-abcde" already exists'
    argo.fail(f"post {WORKFLOWS}", 409, status_body(409, "AlreadyExists", said))
    with pytest.raises(ClusterRequestError, match=r"already exists in namespace 'pedigree'.*abcde"):
        await in_thread(_create)


@pytest.mark.asyncio
async def test_422_includes_the_causes(argo: MockArgo) -> None:
    cause = {"field": "spec.workflowTemplateRef", "message": "Required value", "reason": "x"}
    body = status_body(422, "Invalid", 'Workflow.argoproj.io "" is invalid', causes=(cause,))
    argo.fail(f"post {WORKFLOWS}", 422, body)
    with pytest.raises(
        ClusterRequestError, match=r"invalid: .*causes: spec.workflowTemplateRef: Required value"
    ) as exc:
        await in_thread(_create)
    assert "pedigree compile --target argo" in (exc.value.hint or "")


@pytest.mark.asyncio
async def test_other_statuses_keep_the_api_message(argo: MockArgo) -> None:
    argo.fail(f"get {WORKFLOWS}/{RUN}", 503, status_body(503, "ServiceUnavailable", "etcd is down"))
    with pytest.raises(
        ClusterError, match=r"answered 503 .*get workflows 'pets-x7k2q'.*etcd is down"
    ):
        await in_thread(_get)


@pytest.mark.asyncio
async def test_pods_and_logs(argo: MockArgo) -> None:
    argo.serve_pods([pod("p-1", f"{RUN}.ingest"), pod("p-0", "other.ingest", run="other")], {})
    log = argo.serve_log("p-1", "hello\n")

    def call() -> tuple[list[str], str]:
        with connect() as kube:
            pods = kube.list_pods(NAMESPACE, f"workflows.argoproj.io/workflow={RUN}")
            return [p.name for p in pods], kube.read_pod_log(NAMESPACE, "p-1", tail=5)

    assert await in_thread(call) == (["p-1"], "hello\n")
    assert log[0].params == {"container": "main", "tailLines": "5"}


@pytest.mark.asyncio
async def test_a_deleted_pod_is_pod_gone(argo: MockArgo) -> None:
    def call() -> str:
        with connect() as kube:
            return kube.read_pod_log(NAMESPACE, "gone")

    with pytest.raises(PodGoneError, match=r"pod 'gone' no longer exists") as exc:
        await in_thread(call)
    assert "pod GC" in (exc.value.hint or "")


def test_status_body_parses_causes_and_tolerates_text() -> None:
    cause = {"field": "spec.x", "message": "bad"}
    parsed = StatusBody.parse(json.dumps(status_body(422, "Invalid", "no", causes=(cause,))))
    assert (parsed.message, parsed.causes, parsed.is_status) == ("no", ("spec.x: bad",), True)
    assert StatusBody.parse(b"404 page not found\n").message == "404 page not found"
