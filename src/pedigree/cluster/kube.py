"""The one adapter over the official `kubernetes` client: connect, call, and explain failures.

`connect` loads a kubeconfig context (the current one unless named) the way kubectl does,
`Kube` makes the few calls pedigree needs (Argo Workflows and pods), and every failure leaves as
a ClusterError subclass with one line saying what went wrong where and how to fix it: the API
server's own Status message and causes are kept, since they say exactly what it refused.

The `kubernetes` package is imported inside functions: it is only needed by cluster commands.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pedigree.errors import ClusterError, ClusterRequestError, RunNotFoundError
from pedigree.redact import redact_text, url_without_credentials

if TYPE_CHECKING:
    from types import TracebackType

    from kubernetes.client import ApiClient

DEFAULT_KUBECONFIG = "~/.kube/config"
WORKFLOWS = ("argoproj.io", "v1alpha1", "workflows")
IN_CLUSTER = "in-cluster"
# (connect, read) seconds; the client's own default is to wait forever on a silent server.
TIMEOUT = (10.0, 60.0)
INSTALL_HINT = (
    "install Argo Workflows and the namespace with the cluster config: "
    "kubectl apply -k cluster-conf/overlays/kind (or overlays/production)"
)


class PodGoneError(RunNotFoundError):
    """A pod's log was asked for, but the pod no longer exists (pod GC deleted it)."""


@dataclass(frozen=True)
class Call:
    """What a request was about, for error messages: `create workflows in namespace pedigree`."""

    verb: str
    resource: str
    namespace: str
    name: str | None = None

    def describe(self) -> str:
        what = f"{self.resource} '{self.name}'" if self.name else self.resource
        return f"{self.verb} {what} in namespace '{self.namespace}'"


@dataclass(frozen=True)
class Pod:
    """The parts of a pod that runs and logs need."""

    name: str
    phase: str
    annotations: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


def kubeconfig_path(kubeconfig: str | Path | None = None) -> str:
    """The kubeconfig to read: the argument, else $KUBECONFIG (read now, not at import), else
    ~/.kube/config. $KUBECONFIG may list several files separated by ':' as for kubectl."""
    return str(kubeconfig or os.environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG)


def connect(context: str | None = None, kubeconfig: str | Path | None = None) -> Kube:
    """Connect through kubeconfig `context` (default: its current context).

    Inside a pod with no kubeconfig, the pod's ServiceAccount is used (context `in-cluster`).
    Raises ClusterError when there is no kubeconfig or the context is unknown or unusable.
    """
    from kubernetes import config as kconfig
    from kubernetes.client import ApiClient, Configuration
    from kubernetes.config.config_exception import ConfigException

    path = kubeconfig_path(kubeconfig)
    try:
        contexts, current = kconfig.list_kube_config_contexts(path)
    except ConfigException as exc:
        if context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return _in_cluster()
        raise ClusterError(
            f"no usable Kubernetes configuration in {path}: {redact_text(str(exc))}",
            "point KUBECONFIG at your cluster's kubeconfig, or create a local cluster with "
            "`make cluster` (kind)",
        ) from None
    names = [str(c.get("name")) for c in contexts]
    name = context or (current or {}).get("name")
    if name not in names:
        raise ClusterError(
            f"no context '{name}' in the kubeconfig {path} (contexts: {', '.join(names) or '-'})",
            "pass --context with one of them (kubectl config get-contexts lists them)",
        )
    chosen = next(c for c in contexts if c.get("name") == name)
    configuration = Configuration()
    try:
        kconfig.load_kube_config(
            config_file=path,
            context=name,
            client_configuration=configuration,
            persist_config=False,
        )
    except (ConfigException, OSError, ValueError) as exc:
        raise ClusterError(
            f"kubeconfig context '{name}' in {path} cannot be used: {redact_text(str(exc))}",
            f"check it with `kubectl --context {name} cluster-info`",
        ) from None
    namespace = (chosen.get("context") or {}).get("namespace")
    return Kube(ApiClient(configuration), str(name), str(configuration.host), namespace)


def _in_cluster() -> Kube:
    from kubernetes import config as kconfig
    from kubernetes.client import ApiClient, Configuration
    from kubernetes.config.config_exception import ConfigException

    configuration = Configuration()
    try:
        kconfig.load_incluster_config(client_configuration=configuration)
    except ConfigException as exc:
        raise ClusterError(
            f"no kubeconfig and the pod's ServiceAccount cannot be used: {redact_text(str(exc))}",
            "mount a ServiceAccount token (automountServiceAccountToken) or set KUBECONFIG",
        ) from None
    ns_file = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    namespace = ns_file.read_text(encoding="utf-8").strip() if ns_file.is_file() else None
    return Kube(ApiClient(configuration), IN_CLUSTER, str(configuration.host), namespace)


class Kube:
    """One cluster through one context: the Argo Workflow and pod calls pedigree makes."""

    def __init__(
        self, api_client: ApiClient, context: str, server: str, namespace: str | None = None
    ) -> None:
        self.api_client = api_client
        self.context = context
        # For messages only (the client keeps its own configuration): never with credentials.
        self.server = url_without_credentials(server)
        # The context's own namespace (kubectl's default); pedigree's default is `pedigree`.
        self.namespace = namespace

    def __enter__(self) -> Kube:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self.api_client.close()

    def create_workflow(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a Workflow (as `kubectl create -f`); returns the object the server stored."""
        from kubernetes.client import CustomObjectsApi

        meta = body.get("metadata") or {}
        call = Call("create", "workflows", namespace, meta.get("name") or meta.get("generateName"))
        api = CustomObjectsApi(self.api_client)
        stored: dict[str, Any] = self._call(
            call,
            lambda: api.create_namespaced_custom_object(
                *WORKFLOWS[:2], namespace, WORKFLOWS[2], body, _request_timeout=TIMEOUT
            ),
        )
        return stored

    def get_workflow(self, namespace: str, name: str) -> dict[str, Any]:
        """GET one Workflow; RunNotFoundError when there is none of that name."""
        from kubernetes.client import CustomObjectsApi

        api = CustomObjectsApi(self.api_client)
        found: dict[str, Any] = self._call(
            Call("get", "workflows", namespace, name),
            lambda: api.get_namespaced_custom_object(
                *WORKFLOWS[:2], namespace, WORKFLOWS[2], name, _request_timeout=TIMEOUT
            ),
        )
        return found

    def list_pods(self, namespace: str, label_selector: str) -> list[Pod]:
        """The pods matching `label_selector`, sorted by name."""
        from kubernetes.client import CoreV1Api

        api = CoreV1Api(self.api_client)
        found = self._call(
            Call("list", "pods", namespace),
            lambda: api.list_namespaced_pod(
                namespace, label_selector=label_selector, _request_timeout=TIMEOUT
            ),
        )
        pods = [
            Pod(
                name=str(p.metadata.name),
                phase=str((p.status and p.status.phase) or "Unknown"),
                annotations=dict(p.metadata.annotations or {}),
                labels=dict(p.metadata.labels or {}),
            )
            for p in found.items or []
            if p.metadata is not None
        ]
        return sorted(pods, key=lambda p: p.name)

    def read_pod_log(
        self, namespace: str, pod: str, container: str = "main", tail: int | None = None
    ) -> str:
        """The log of one container of a pod; PodGoneError when the pod was deleted."""
        from kubernetes.client import CoreV1Api

        api = CoreV1Api(self.api_client)
        text = self._call(
            Call("get", "pods/log", namespace, pod),
            lambda: api.read_namespaced_pod_log(
                pod, namespace, container=container, tail_lines=tail, _request_timeout=TIMEOUT
            ),
        )
        return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)

    def _call(self, call: Call, request: Callable[[], Any]) -> Any:
        import urllib3
        from kubernetes.client import ApiException

        try:
            return request()
        except ApiException as exc:
            raise api_error(exc.status or 0, exc.reason, exc.body, call, self) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise unreachable(self, _short_reason(exc)) from None


def unreachable(kube: Kube, reason: str) -> ClusterError:
    """The API server could not be reached at all."""
    return ClusterError(
        f"cannot reach the Kubernetes API server at {kube.server} (context '{kube.context}'): "
        f"{reason}",
        f"check that the cluster is up and the context is right: "
        f"kubectl --context {kube.context} cluster-info (local kind cluster: make cluster)",
    )


def _short_reason(exc: BaseException) -> str:
    """'connection refused' rather than urllib3's three nested reprs (which repeat the URL)."""
    reason = getattr(exc, "reason", None) or exc
    text = redact_text(str(reason))
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower() or "timeout" in type(reason).__name__.lower():
        return "timed out"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host name"
    return text.split(": ", 1)[-1] if isinstance(reason, OSError) else text


@dataclass(frozen=True)
class StatusBody:
    """The parts of a Kubernetes `Status` error body that say what was refused and why."""

    message: str
    reason: str
    kind: str
    causes: tuple[str, ...]
    is_status: bool

    @classmethod
    def parse(cls, body: Any) -> StatusBody:
        """Parse an ApiException body; anything but a JSON Status keeps its text as message."""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("kind") != "Status":
            return cls(text.strip(), "", "", (), False)
        details = data.get("details")
        details = details if isinstance(details, dict) else {}
        causes = tuple(
            f"{c['field']}: {c.get('message', '')}" if c.get("field") else str(c.get("message"))
            for c in details.get("causes") or []
            if isinstance(c, dict)
        )
        return cls(
            str(data.get("message") or "").strip(),
            str(data.get("reason") or ""),
            str(details.get("kind") or ""),
            causes,
            True,
        )


def api_error(status: int, reason: str | None, body: Any, call: Call, kube: Kube) -> ClusterError:
    """The ClusterError for an API answer `status` to `call` (the heart of the error messages).

    What the server said is quoted without credentials (a webhook may echo a URL it refused).
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    parsed = StatusBody.parse(redact_text(text))
    reason = redact_text(reason) if reason else reason
    said = parsed.message or reason or "no message"
    where = f"the API server at {kube.server} (context '{kube.context}')"
    if status == 0:  # the client's code for TLS and request-building failures
        return unreachable(kube, reason or said)
    if status == 401:
        return ClusterError(
            f"{where} rejected the credentials (401 Unauthorized)",
            f"refresh your credentials for context '{kube.context}' (log in again or renew the "
            f"token in your kubeconfig), then check: kubectl --context {kube.context} auth whoami",
        )
    if status == 403:
        return ClusterError(
            f"forbidden: you may not {call.describe()} (context '{kube.context}'): {said}",
            f"you need RBAC rights to {call.verb} {call.resource} in namespace "
            f"'{call.namespace}': ask a cluster admin for a Role and RoleBinding (the pipeline's "
            f"own ServiceAccount gets its rights from the pedigree-pipeline Role in "
            f"cluster-conf/base)",
        )
    if status == 404:
        return _not_found(parsed, call, kube, where)
    if status == 409:
        return ClusterRequestError(
            f"{call.resource} '{call.name}' already exists in namespace '{call.namespace}': {said}",
            "the compiled Workflow uses generateName so that every submit gets a new name: "
            "recompile it (pedigree compile --target argo) or delete the old object",
        )
    if status == 422:
        causes = "; ".join(parsed.causes)
        return ClusterRequestError(
            f"{where} refused to {call.describe()}: invalid: {said}"
            + (f" (causes: {causes})" if causes and causes not in said else ""),
            "recompile the cluster files from the spec (pedigree compile --target argo) and "
            "check them (pedigree check); do not edit cluster-conf/ by hand",
        )
    return ClusterError(
        f"{where} answered {status} {reason or ''} to {call.describe()}: {said}".replace("  ", " "),
        "retry; if it persists check the cluster's health: kubectl get --raw /readyz",
    )


def _not_found(parsed: StatusBody, call: Call, kube: Kube, where: str) -> ClusterError:
    if not parsed.is_status and call.resource == "workflows":
        # A plain "404 page not found" is the API server's answer for an unknown resource type.
        return ClusterError(
            f"{where} does not know Argo Workflows (no {WORKFLOWS[0]}/{WORKFLOWS[1]} workflows)",
            INSTALL_HINT,
        )
    if parsed.kind == "namespaces":
        return ClusterError(
            f"namespace '{call.namespace}' does not exist on {where}",
            f"{INSTALL_HINT}, or pass --namespace with the namespace the pipeline was installed in",
        )
    if call.resource == "pods/log":
        return PodGoneError(
            f"pod '{call.name}' no longer exists in namespace '{call.namespace}'",
            "Argo deletes finished pods after the pod GC delay, and their logs with them",
        )
    if call.resource == "workflows" and call.verb == "get":
        return RunNotFoundError(
            f"no run '{call.name}' in namespace '{call.namespace}' (context '{kube.context}')",
            f"list the runs with `kubectl get workflows -n {call.namespace}`; finished runs are "
            "deleted after the Workflow's TTL; pass --namespace or --context if it ran elsewhere",
        )
    return ClusterError(f"{where}: not found: cannot {call.describe()}: {parsed.message}", None)
