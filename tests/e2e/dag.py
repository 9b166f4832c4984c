"""A compiled Argo WorkflowTemplate's DAG as container runs: what `make cluster-e2e` executes.

Pure functions over the YAML a cluster would get (never over the pipeline spec, so what is
tested is what Argo would run): the DAG's tasks in dependency order, each with its container
template's image, command, args, working directory, env, security context, resources and
volumes; the env resolved as Argo and the kubelet would resolve it (workflow parameters, the
workflow's name, Secret keys, the pod's own fields); and the container engine's `run` command
line that reproduces the pod's container as closely as one machine can.

Anything in a template this module does not know how to reproduce is an error naming the
template and the field, never silently dropped: a run that ignored a field would prove less
than it claims.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pedigree.spec.fields import CPU, MEMORY

WORKSPACE_ARTIFACT_FIELD = "git"
# `{{workflow.parameters.NAME}}` and `{{workflow.name}}`: the only expressions the compiled
# step templates use.
_EXPRESSION = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")
_MEMORY_UNITS = {
    None: 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
KNOWN_CONTAINER_FIELDS = {
    "image",
    "command",
    "args",
    "workingDir",
    "env",
    "resources",
    "securityContext",
    "volumeMounts",
}


class TemplateError(Exception):
    """The WorkflowTemplate holds something the e2e run cannot reproduce faithfully."""


@dataclass(frozen=True)
class Mount:
    """A volume mounted into the container: an emptyDir (a fresh empty folder per pod)."""

    name: str
    path: str


@dataclass(frozen=True)
class Security:
    """The container's effective security context (the container's over the pod's)."""

    user: int
    group: int
    read_only_root: bool
    no_new_privileges: bool
    drop_all_capabilities: bool


@dataclass(frozen=True)
class Step:
    """One DAG task and the container template it runs."""

    task: str
    template: str
    dependencies: tuple[str, ...]
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    working_dir: str | None
    env: tuple[dict[str, Any], ...]
    security: Security
    cpus: float | None
    memory_bytes: int | None
    source_path: str  # where the git artifact (the project at the revision) is checked out
    mounts: tuple[Mount, ...]
    deadline_seconds: int | None


def _require(condition: bool, where: str, what: str) -> None:
    if not condition:
        raise TemplateError(f"{where}: {what}")


def parameters(template: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    """The workflow's parameters: the template's defaults, overridden by `given`; every
    parameter must end up with a value (Argo refuses to submit otherwise)."""
    declared = template.get("spec", {}).get("arguments", {}).get("parameters", [])
    values = {p["name"]: str(p["value"]) for p in declared if "value" in p}
    unknown = sorted(set(given) - {p["name"] for p in declared})
    _require(not unknown, "spec.arguments.parameters", f"no parameter named {', '.join(unknown)}")
    values.update(given)
    missing = sorted(p["name"] for p in declared if p["name"] not in values)
    _require(not missing, "spec.arguments.parameters", f"no value for {', '.join(missing)}")
    return values


def steps(template: Mapping[str, Any]) -> list[Step]:
    """The entrypoint DAG's tasks in dependency order (ties in the order the DAG lists them)."""
    spec = template.get("spec", {})
    templates = {t["name"]: t for t in spec.get("templates", [])}
    entry = spec.get("entrypoint")
    _require(entry in templates, "spec.entrypoint", f"no template named {entry!r}")
    dag = templates[entry].get("dag")
    _require(dag is not None, f"template {entry}", "the entrypoint is not a DAG")
    tasks = list(dag.get("tasks", []))
    names = [t["name"] for t in tasks]
    ordered: list[dict[str, Any]] = []
    done: set[str] = set()
    while len(ordered) < len(tasks):
        ready = [
            t for t in tasks if t["name"] not in done and set(t.get("dependencies", [])) <= done
        ]
        if not ready:
            waiting = [n for n in names if n not in done]
            raise TemplateError(f"template {entry}: tasks {waiting} wait on each other (a cycle)")
        for task in ready:
            unknown = set(task.get("dependencies", [])) - set(names)
            _require(not unknown, f"task {task['name']}", f"unknown dependencies {unknown}")
        ordered.append(ready[0])
        done.add(ready[0]["name"])
    pod_security = spec.get("securityContext", {})
    return [_step(task, templates, pod_security) for task in ordered]


def _step(
    task: Mapping[str, Any], templates: Mapping[str, Any], pod_security: Mapping[str, Any]
) -> Step:
    name = task["template"]
    where = f"template {name}"
    _require(name in templates, f"task {task['name']}", f"no template named {name!r}")
    template = templates[name]
    container = template.get("container")
    _require(container is not None, where, "not a container template")
    extra = sorted(set(container) - KNOWN_CONTAINER_FIELDS)
    _require(not extra, where, f"container fields the e2e run cannot reproduce: {extra}")
    artifacts = template.get("inputs", {}).get("artifacts", [])
    sources = [a for a in artifacts if WORKSPACE_ARTIFACT_FIELD in a]
    _require(
        len(sources) == 1 and len(artifacts) == 1,
        where,
        "expected exactly one input artifact, the project's git checkout",
    )
    volumes = {v["name"]: v for v in template.get("volumes", [])}
    mounts: list[Mount] = []
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"])
        _require(volume is not None, where, f"volumeMount {mount['name']} has no volume")
        _require(
            "emptyDir" in volume and "subPath" not in mount,
            where,
            f"volume {mount['name']}: only emptyDir volumes can be reproduced here",
        )
        mounts.append(Mount(mount["name"], mount["mountPath"]))
    resources = container.get("resources", {})
    limits = resources.get("limits", {})
    extra_limits = sorted(set(limits) - {"cpu", "memory"})
    _require(not extra_limits, where, f"resources this machine cannot give: {extra_limits}")
    deadline = template.get("activeDeadlineSeconds")
    return Step(
        task=task["name"],
        template=name,
        dependencies=tuple(task.get("dependencies", [])),
        image=container["image"],
        command=tuple(container.get("command", [])),
        args=tuple(container.get("args", [])),
        working_dir=container.get("workingDir"),
        env=tuple(container.get("env", [])),
        security=_security(where, pod_security, container.get("securityContext", {})),
        cpus=cpu_quantity(limits["cpu"]) if "cpu" in limits else None,
        memory_bytes=memory_quantity(limits["memory"]) if "memory" in limits else None,
        source_path=sources[0]["path"],
        mounts=tuple(mounts),
        deadline_seconds=int(deadline) if deadline is not None else None,
    )


def _security(where: str, pod: Mapping[str, Any], container: Mapping[str, Any]) -> Security:
    merged = {**pod, **container}
    user, group = merged.get("runAsUser"), merged.get("runAsGroup", merged.get("runAsUser"))
    _require(user is not None, where, "no runAsUser: the run would use the image's user")
    if merged.get("runAsNonRoot"):
        _require(int(user) != 0, where, "runAsNonRoot with runAsUser 0")
    drop = [c.upper() for c in merged.get("capabilities", {}).get("drop", [])]
    added = merged.get("capabilities", {}).get("add", [])
    _require(not added, where, f"added capabilities {added}")
    return Security(
        user=int(user),
        group=int(group),
        read_only_root=bool(merged.get("readOnlyRootFilesystem", False)),
        no_new_privileges=merged.get("allowPrivilegeEscalation") is False,
        drop_all_capabilities="ALL" in drop,
    )


def cpu_quantity(value: str | int | float) -> float:
    """A Kubernetes CPU quantity ("1", "500m", 2) in CPUs."""
    text = str(value)
    if not CPU.fullmatch(text):  # the spec's grammar: what a compiled template can hold
        raise TemplateError(f"cannot read the CPU quantity {value!r}")
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def memory_quantity(value: str | int) -> int:
    """A Kubernetes memory quantity ("1Gi", "512Mi", "1G", 1048576) in bytes."""
    text = str(value)
    if not MEMORY.fullmatch(text):  # the spec's grammar: what a compiled template can hold
        raise TemplateError(f"cannot read the memory quantity {value!r}")
    number = text.rstrip("KMGTik")
    return int(float(number) * _MEMORY_UNITS[text[len(number) :] or None])


@dataclass(frozen=True)
class PodContext:
    """What Argo and the kubelet fill in for one pod."""

    workflow: str
    parameters: Mapping[str, str]
    secrets: Mapping[str, Mapping[str, str]]  # Secret name -> key -> value
    pod_name: str
    namespace: str


def expand(text: str, context: PodContext, where: str) -> str:
    """`text` with Argo's `{{workflow.parameters.X}}` and `{{workflow.name}}` filled in."""

    def one(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression == "workflow.name":
            return context.workflow
        if expression.startswith("workflow.parameters."):
            name = expression.removeprefix("workflow.parameters.")
            if name in context.parameters:
                return context.parameters[name]
        raise TemplateError(f"{where}: cannot resolve {{{{{expression}}}}}")

    return _EXPRESSION.sub(one, text)


def resolve_env(step: Step, context: PodContext) -> dict[str, str]:
    """The container's environment as the kubelet would set it."""
    env: dict[str, str] = {}
    for entry in step.env:
        name = entry["name"]
        where = f"template {step.template}, env {name}"
        if "value" in entry:
            env[name] = expand(str(entry["value"]), context, where)
            continue
        source = entry.get("valueFrom", {})
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            value = context.secrets.get(ref["name"], {}).get(ref["key"])
            _require(value is not None, where, f"no key {ref['key']} in Secret {ref['name']}")
            env[name] = str(value)
        elif "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            fields = {"metadata.name": context.pod_name, "metadata.namespace": context.namespace}
            _require(path in fields, where, f"fieldRef {path} is not reproduced here")
            env[name] = fields[path]
        else:
            raise TemplateError(f"{where}: valueFrom {sorted(source)} is not reproduced here")
    return env


def run_argv(
    engine: tuple[str, ...],
    step: Step,
    image: str,
    env_file: str,
    mounts: Mapping[str, str],
    name: str,
    user_namespace: str | None = None,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """`ENGINE run ...` for the step's container.

    `mounts` maps each container path (the checkout and every emptyDir) to the host folder
    standing for it; env comes from `env_file` (written 0600 by the caller), so no credential
    appears on a command line; `extra` holds host-specific flags (network, ulimits).
    """
    argv = [*engine, "run", "--rm", "--pull=never", "--name", name]
    security = step.security
    argv += ["--user", f"{security.user}:{security.group}"]
    if user_namespace:
        argv += ["--userns", user_namespace]
    if security.read_only_root:
        argv.append("--read-only")
    if security.drop_all_capabilities:
        argv += ["--cap-drop", "ALL"]
    if security.no_new_privileges:
        argv += ["--security-opt", "no-new-privileges"]
    if step.cpus is not None:
        argv += ["--cpus", f"{step.cpus:g}"]
    if step.memory_bytes is not None:
        argv += ["--memory", str(step.memory_bytes)]
    for path, host in sorted(mounts.items()):
        argv += ["--volume", f"{host}:{path}"]
    if step.working_dir:
        argv += ["--workdir", step.working_dir]
    argv += ["--env-file", env_file]
    argv += list(extra)
    if step.command:
        # Kubernetes' `command` replaces the image's entrypoint, `args` its CMD.
        argv += ["--entrypoint", step.command[0], image, *step.command[1:], *step.args]
    else:
        argv += [image, *step.args]
    return argv
