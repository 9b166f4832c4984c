"""Cluster runs: submit a Workflow, read its status per stage, watch it, and read stage logs.

A run is one Argo Workflow; each stage is one task of its DAG. Argo records a task as a node
whose displayName is the task (stage) name: a `Pod` node, or a `Retry` node whose children are
the attempts (`train(0)`, `train(1)`, ...). A pod carries its node's name in the annotation
`workflows.argoproj.io/node-name` (`pets-x7k2q.train(1)`), since pod names are hashed.

Everything here works on plain dicts from the API through `pedigree.cluster.kube.Kube`, so the
parsing is testable without a cluster.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from pedigree.cluster.kube import Kube, Pod, PodGoneError
from pedigree.errors import RunNotFoundError
from pedigree.redact import redact_text

RUN_LABEL = "workflows.argoproj.io/workflow"
NODE_ANNOTATION = "workflows.argoproj.io/node-name"
DONE = frozenset({"Succeeded", "Failed", "Error"})
FAILED = frozenset({"Failed", "Error"})
NOT_RUN = frozenset({"Pending", "Omitted", "Skipped"})
STAGE_NODE_TYPES = frozenset({"Pod", "Retry", "Skipped"})
ATTEMPT = re.compile(r"^(?P<stage>[^.()]+)(?:\((?P<attempt>\d+)\))?$")
GC_HINT = (
    "Argo deletes a run's pods after the pod GC delay (podGC in the WorkflowTemplate), and their "
    "logs with them; the stage's outputs and lineage record are in the DVC remote: "
    "pedigree pull RUN"
)


@dataclass(frozen=True)
class StageStatus:
    """One stage (DAG task) of a run: phase, times (ISO 8601, UTC), message, retries used."""

    name: str
    phase: str
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    message: str = ""
    retries: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return asdict(self)


@dataclass(frozen=True)
class RunStatus:
    """A cluster run (Argo Workflow): its phase, parameters and one StageStatus per stage.

    `phase` is Argo's: Pending, Running, Succeeded, Failed or Error. `parameters` are the
    effective workflow parameters (the template's defaults overridden by the submitted ones):
    `revision` is the git commit the run checked out, `repo` the repository it cloned.
    """

    name: str
    namespace: str
    phase: str
    started_at: str | None
    finished_at: str | None
    message: str
    parameters: dict[str, str]
    stages: tuple[StageStatus, ...]

    @property
    def finished(self) -> bool:
        """True once the run has ended, well or not."""
        return self.phase in DONE

    @property
    def succeeded(self) -> bool:
        """True when the run ended with every stage done."""
        return self.phase == "Succeeded"

    @property
    def duration_s(self) -> float | None:
        """Wall time in seconds, once the run has finished."""
        return _seconds(self.started_at, self.finished_at)

    @property
    def revision(self) -> str | None:
        """The git revision the run checked out (its `revision` parameter)."""
        return self.parameters.get("revision")

    def stage(self, name: str) -> StageStatus | None:
        """The stage called `name`, if the run has it."""
        return next((s for s in self.stages if s.name == name), None)

    def first_failed(self) -> StageStatus | None:
        """The stage that failed first (earliest finish), if any."""
        failed = [s for s in self.stages if s.phase in FAILED]
        return min(failed, key=lambda s: s.finished_at or "~") if failed else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        data = asdict(self)
        data["stages"] = [s.to_dict() for s in self.stages]
        data["duration_s"] = self.duration_s
        return data


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    except ValueError:
        return None
    return round(delta.total_seconds(), 3)


def _parameters(items: Any) -> dict[str, str]:
    """Name -> value; a run submitted with credentials in its repo URL shows them stripped."""
    found: dict[str, str] = {}
    for item in items or []:
        if isinstance(item, dict) and "name" in item:
            value = item.get("value", item.get("default"))
            if value is not None:
                found[str(item["name"])] = redact_text(str(value))
    return found


def _specs(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    """The workflow's own spec, then the template spec Argo stored for it (for references)."""
    stored = (workflow.get("status") or {}).get("storedWorkflowTemplateSpec")
    return [s for s in (stored, workflow.get("spec")) if isinstance(s, dict)]


def dag_order(workflow: dict[str, Any]) -> list[str]:
    """The entrypoint DAG's task names, upstream first (ties keep the listed order)."""
    for spec in reversed(_specs(workflow)):
        entry = spec.get("entrypoint")
        template = next((t for t in spec.get("templates") or [] if t.get("name") == entry), None)
        tasks = ((template or {}).get("dag") or {}).get("tasks") or []
        if tasks:
            break
    else:
        return []
    names = [str(t["name"]) for t in tasks]
    needs: dict[str, set[str]] = {}
    for task in tasks:
        words = set(task.get("dependencies") or [])
        words |= set(re.findall(r"[A-Za-z0-9][A-Za-z0-9-]*", str(task.get("depends") or "")))
        needs[str(task["name"])] = words & set(names)
    order: list[str] = []
    while len(order) < len(names):
        ready = [n for n in names if n not in order and needs[n] <= set(order)]
        order.append(ready[0] if ready else next(n for n in names if n not in order))
    return order


def parse_run(workflow: dict[str, Any], namespace: str) -> RunStatus:
    """The RunStatus of a Workflow object as the API returns it (pure)."""
    meta = workflow.get("metadata") or {}
    status = workflow.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    parameters: dict[str, str] = {}
    for spec in _specs(workflow):  # template defaults first, the submitted values win
        parameters.update(_parameters((spec.get("arguments") or {}).get("parameters")))
    nodes: dict[str, dict[str, Any]] = status.get("nodes") or {}
    attempts = {
        c for n in nodes.values() if n.get("type") == "Retry" for c in n.get("children", [])
    }
    found: dict[str, StageStatus] = {}
    for node_id, node in nodes.items():
        name = str(node.get("displayName") or "")
        if node.get("type") not in STAGE_NODE_TYPES or node_id in attempts or "." in name:
            continue
        tries = [nodes[c] for c in node.get("children", []) if c in nodes]
        tries = tries if node.get("type") == "Retry" else []
        message = node.get("message") or (tries[-1].get("message") if tries else "") or ""
        found[name] = StageStatus(
            name=name,
            phase=str(node.get("phase") or "Pending"),
            started_at=node.get("startedAt"),
            finished_at=node.get("finishedAt"),
            duration_s=_seconds(node.get("startedAt"), node.get("finishedAt")),
            message=redact_text(str(message)),  # Argo's clone errors quote the repo URL
            retries=max(len(tries) - 1, 0),
        )
    order = dag_order(workflow)
    missing = "Omitted" if phase in DONE else "Pending"
    stages = [found.get(n, StageStatus(n, missing)) for n in order]
    extra = sorted((s for s in found.values() if s.name not in order), key=_started)
    return RunStatus(
        name=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or namespace),
        phase=phase,
        started_at=status.get("startedAt"),
        finished_at=status.get("finishedAt"),
        message=redact_text(str(status.get("message") or "")),
        parameters=parameters,
        stages=(*stages, *extra),
    )


def _started(stage: StageStatus) -> tuple[str, str]:
    return (stage.started_at or "~", stage.name)


def with_arguments(workflow: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """A copy of `workflow` with `parameters` set in spec.arguments.parameters (pure).

    Parameters already listed keep their place and get the new value; new ones are appended.
    """
    body = copy.deepcopy(workflow)
    if not parameters:
        return body
    arguments = body.setdefault("spec", {}).setdefault("arguments", {})
    listed: list[dict[str, Any]] = arguments.setdefault("parameters", [])
    for name, value in parameters.items():
        item = next((p for p in listed if p.get("name") == name), None)
        if item is None:
            listed.append({"name": name, "value": value})
        else:
            item["value"] = value
    return body


def submit(kube: Kube, namespace: str, body: dict[str, Any]) -> str:
    """Create the Workflow `body` in `namespace`; the run's name (the server picks it from
    metadata.generateName)."""
    created = kube.create_workflow(namespace, body)
    return str((created.get("metadata") or {}).get("name") or "")


def run_status(kube: Kube, namespace: str, run: str) -> RunStatus:
    """The status of run `run`; RunNotFoundError when there is no such Workflow."""
    return parse_run(kube.get_workflow(namespace, run), namespace)


@dataclass(frozen=True)
class Change:
    """A phase change seen while watching: of a stage, or of the run when `stage` is None."""

    stage: str | None
    phase: str
    message: str = ""
    retries: int = 0


def changes(seen: dict[str | None, str], status: RunStatus) -> list[Change]:
    """What changed since `seen` (updated in place): stages in run order, then the run."""
    found: list[Change] = []
    for stage in status.stages:
        if stage.phase != seen.get(stage.name, "Pending"):
            seen[stage.name] = stage.phase
            found.append(Change(stage.name, stage.phase, stage.message, stage.retries))
    if status.phase != seen.get(None):
        seen[None] = status.phase
        found.append(Change(None, status.phase, status.message))
    return found


def watch(
    kube: Kube,
    namespace: str,
    run: str,
    on_change: Callable[[Change], None],
    interval: float = 5.0,
    sleep: Callable[[float], None] | None = None,
) -> RunStatus:
    """Poll run `run` every `interval` seconds, reporting each phase change, until it ends."""
    seen: dict[str | None, str] = {}
    while True:
        status = run_status(kube, namespace, run)
        for change in changes(seen, status):
            on_change(change)
        if status.finished:
            return status
        (sleep or time.sleep)(interval)


def stage_of(node_name: str, run: str) -> tuple[str, int] | None:
    """(stage, attempt) of a node name: `pets-x7k2q.train(1)` -> ("train", 1); None if foreign."""
    if not node_name.startswith(run + "."):
        return None
    match = ATTEMPT.fullmatch(node_name.rsplit(".", 1)[-1])
    if match is None:
        return None
    return match["stage"], int(match["attempt"] or 0)


def stage_pods(kube: Kube, namespace: str, run: str) -> dict[str, list[Pod]]:
    """The run's pods by stage, each stage's attempts in order."""
    found: dict[str, list[tuple[int, Pod]]] = {}
    for pod in kube.list_pods(namespace, f"{RUN_LABEL}={run}"):
        where = stage_of(pod.annotations.get(NODE_ANNOTATION, ""), run)
        if where is not None:
            found.setdefault(where[0], []).append((where[1], pod))
    return {
        stage: [p for _, p in sorted(pods, key=lambda a: a[0])] for stage, pods in found.items()
    }


@dataclass(frozen=True)
class StageLog:
    """The log of one attempt of a stage, or why there is none (`text` None, `note` says why)."""

    stage: str
    attempt: int
    attempts: int
    pod: str | None
    text: str | None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return asdict(self)


def read_logs(
    kube: Kube, namespace: str, run: str, stage: str | None = None, tail: int | None = None
) -> tuple[StageLog, ...]:
    """The logs of one stage (every attempt) or, without `stage`, of every stage in DAG order.

    A stage that has not started, or whose pod is gone, gets a note instead of a log; asked for
    by name, either is an error (RunNotFoundError) saying why.
    """
    status = run_status(kube, namespace, run)
    pods = stage_pods(kube, namespace, run)
    names = [s.name for s in status.stages] + sorted(set(pods) - {s.name for s in status.stages})
    if stage is not None and stage not in names:
        raise RunNotFoundError(
            f"run '{run}' has no stage '{stage}' (stages: {', '.join(names) or 'none yet'})",
            f"pedigree logs {run} STAGE with one of them",
        )
    logs: list[StageLog] = []
    for name in [stage] if stage else names:
        attempts = pods.get(name, [])
        if not attempts:
            logs.append(_no_pod(status, name, run, must=stage is not None))
        for number, pod in enumerate(attempts):
            try:
                text = kube.read_pod_log(namespace, pod.name, tail=tail)
            except PodGoneError as exc:
                if stage is not None:
                    raise PodGoneError(
                        f"the pod of stage '{name}' of run '{run}' was deleted", exc.hint
                    ) from None
                logs.append(StageLog(name, number, len(attempts), pod.name, None, exc.message))
                continue
            # Argo's init container logs the clone of the repo URL; never show its user part.
            logs.append(StageLog(name, number, len(attempts), pod.name, redact_text(text)))
    return tuple(logs)


def _no_pod(status: RunStatus, name: str, run: str, must: bool) -> StageLog:
    found = status.stage(name)
    phase = found.phase if found else "Pending"
    if found is None or (phase in NOT_RUN and not found.started_at):
        note = f"stage '{name}' has not run (phase {phase}), so it has no log"
        if must:
            raise RunNotFoundError(f"run '{run}': {note}", f"pedigree status {run}")
        return StageLog(name, 0, 0, None, None, note)
    note = f"the pod of stage '{name}' was deleted after the pod GC delay, and its log with it"
    if must:
        raise PodGoneError(f"run '{run}': {note}", GC_HINT)
    return StageLog(name, 0, 0, None, None, note)
