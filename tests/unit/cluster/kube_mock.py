"""A mock Kubernetes API for the cluster tests: kmock over real HTTP, a kubeconfig pointing at it,
and Argo Workflow and pod objects shaped as Argo writes them.

The `kubernetes` client is synchronous and kmock's server runs on the test's event loop, so
tests call pedigree through `asyncio.to_thread` (`in_thread`) while the loop serves requests.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import kmock
import pytest

from pedigree.api import main as api
from tests.conftest import VALID_SPEC, make_project

NAMESPACE = "pedigree"
RUN = "pets-x7k2q"
CONTEXT = "mock"
ORIGIN = "https://git.example/team/pets.git"
WORKFLOWS = f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/workflows"
PODS = f"/api/v1/namespaces/{NAMESPACE}/pods"

T = TypeVar("T")


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking client code while the event loop keeps serving the mock API."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def git(root: Path, *args: str) -> str:
    """Run git in `root` (with an identity, whatever the machine's config); its stdout."""
    identity = ["-c", "user.name=Tester", "-c", "user.email=tester@example.com"]
    done = subprocess.run(
        ["git", *identity, *args], cwd=root, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def committed_project(root: Path, spec: str = VALID_SPEC, origin: str | None = ORIGIN) -> Path:
    """A project with its compiled Argo files, committed, and HEAD on a remote branch."""
    make_project(root, spec)
    api.compile_argo(root)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "pipeline")
    if origin:
        git(root, "remote", "add", "origin", origin)
        git(root, "update-ref", "refs/remotes/origin/main", "HEAD")
    return root


def write_kubeconfig(
    path: Path, server: str, context: str = CONTEXT, namespace: str = NAMESPACE
) -> Path:
    """A kubeconfig with one context `context` (the current one) for `server`."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": context,
        "clusters": [{"name": "mock", "cluster": {"server": server.rstrip("/")}}],
        "users": [{"name": "tester", "user": {"token": "secret-token"}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": "mock", "user": "tester", "namespace": namespace},
            }
        ],
    }
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def use_mock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: Any) -> Path:
    """Point KUBECONFIG at a kubeconfig for `server` (read by pedigree at connect time)."""
    path = write_kubeconfig(tmp_path / "kubeconfig", str(server))
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


def status_body(
    code: int, reason: str, message: str, kind: str = "", causes: tuple[dict[str, str], ...] = ()
) -> dict[str, Any]:
    """A Kubernetes `Status` error body, as the API server sends it."""
    details: dict[str, Any] = {"kind": kind} if kind else {}
    if causes:
        details["causes"] = list(causes)
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details,
        "code": code,
    }


def node(
    stage: str,
    phase: str,
    start: str | None = "2025-01-01T10:00:00Z",
    end: str | None = "2025-01-01T10:00:05Z",
    message: str = "",
    attempt: int | None = None,
    run: str = RUN,
) -> dict[str, Any]:
    """An Argo Pod node for a stage (an attempt of a retried stage when `attempt` is set)."""
    suffix = "" if attempt is None else f"({attempt})"
    data: dict[str, Any] = {
        "id": f"{run}-{stage}{attempt if attempt is not None else ''}",
        "name": f"{run}.{stage}{suffix}",
        "displayName": f"{stage}{suffix}",
        "type": "Pod",
        "templateName": stage,
        "phase": phase,
    }
    for key, value in (("startedAt", start), ("finishedAt", end), ("message", message)):
        if value:
            data[key] = value
    return data


def retried(stage: str, phase: str, attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A Retry node with its attempts (Pod nodes made by `node(..., attempt=N)`)."""
    parent = {
        "id": f"{RUN}-{stage}",
        "name": f"{RUN}.{stage}",
        "displayName": stage,
        "type": "Retry",
        "phase": phase,
        "startedAt": attempts[0].get("startedAt"),
        "finishedAt": attempts[-1].get("finishedAt"),
        "children": [a["id"] for a in attempts],
    }
    return [parent, *attempts]


def workflow(
    phase: str | None,
    nodes: list[dict[str, Any]] = (),  # type: ignore[assignment]
    run: str = RUN,
    message: str = "",
    revision: str = "0123456789abcdef",
) -> dict[str, Any]:
    """A Workflow referencing pedigree-pets as the API returns it once Argo has seen it."""
    root = {"id": run, "name": run, "displayName": run, "type": "DAG", "phase": phase}
    status: dict[str, Any] = {
        "nodes": {n["id"]: n for n in [root, *nodes]},
        "startedAt": "2025-01-01T10:00:00Z",
        "storedWorkflowTemplateSpec": {
            "entrypoint": "pipeline",
            "arguments": {
                "parameters": [
                    {"name": "repo", "value": "https://git.example/pets.git"},
                    {"name": "revision", "value": "main"},
                ]
            },
            # Listed out of order on purpose: the DAG's dependencies decide the order.
            "templates": [
                {
                    "name": "pipeline",
                    "dag": {
                        "tasks": [
                            {"name": "train", "template": "train", "dependencies": ["transform"]},
                            {"name": "transform", "template": "transform", "depends": "ingest"},
                            {"name": "ingest", "template": "ingest"},
                        ]
                    },
                }
            ],
        },
    }
    if phase:
        status["phase"] = phase
    if phase in ("Succeeded", "Failed", "Error"):
        status["finishedAt"] = "2025-01-01T10:03:12Z"
    if message:
        status["message"] = message
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": run, "namespace": NAMESPACE},
        "spec": {
            "workflowTemplateRef": {"name": "pedigree-pets"},
            "arguments": {"parameters": [{"name": "revision", "value": revision}]},
        },
        "status": status,
    }


def pod(name: str, node_name: str, run: str = RUN, phase: str = "Succeeded") -> dict[str, Any]:
    """A pod of a run, labelled and annotated as Argo does."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"workflows.argoproj.io/workflow": run},
            "annotations": {"workflows.argoproj.io/node-name": node_name},
        },
        "spec": {"containers": [{"name": "wait"}, {"name": "main"}]},
        "status": {"phase": phase},
    }


class MockArgo:
    """Reactions of the mock API server for one namespace: submit, runs, pods and logs."""

    def __init__(self, server: kmock.KubernetesEmulator) -> None:
        self.server = server

    def accept_submit(self, name: str = RUN) -> Any:
        """Answer a Workflow POST as the API does for generateName; the reaction records it."""

        def created(request: kmock.Request) -> dict[str, Any]:
            body = json.loads(request.body)
            body["metadata"] = {**body["metadata"], "name": name, "uid": "u-1"}
            return body

        return self.server[f"post {WORKFLOWS}"] << 201 << created

    def serve_run(self, *states: dict[str, Any], run: str = RUN) -> Any:
        """Successive GETs of the run return successive states; the last one repeats."""
        served = list(states)

        def next_state() -> dict[str, Any]:
            return served.pop(0) if len(served) > 1 else served[0]

        return self.server[f"get {WORKFLOWS}/{run}"] << next_state

    def serve_pods(self, pods: list[dict[str, Any]], logs: dict[str, str]) -> None:
        """List `pods` (by label selector) and serve the `main` log of those named in `logs`."""

        def listing(request: kmock.Request) -> dict[str, Any]:
            key, _, value = request.params.get("labelSelector", "").partition("=")
            items = [p for p in pods if p["metadata"]["labels"].get(key) == value]
            return {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items}

        self.server[f"get {PODS}"] << listing
        for name, text in logs.items():
            self.serve_log(name, text)

    def serve_log(self, pod: str, text: str) -> Any:
        """Serve a pod's log as text/plain, as the API server does; the reaction records it."""
        plain: kmock.headers[str] = kmock.headers({"Content-Type": "text/plain; charset=utf-8"})
        return self.server[f"get {PODS}/{pod}/log"] << plain << text.encode("utf-8")

    def fail(self, request: str, code: int, body: dict[str, Any] | bytes) -> Any:
        """Answer `request` ("get /path") with an error status and body."""
        return self.server[request] << code << body
