"""One stage as an Argo Workflows container template: image, step runner, env, limits, retries.

Every step runs the same way: an Argo `git` input artifact checks the project out at
/workspace, then the step runner (`python -m pedigree.cluster.step`, from the runner's own
environment in the image) restores the stage's inputs from the DVC remote, runs the stage with
`dvc repro` and pushes its outputs, the run-cache and the lineage records back.

Pure functions returning fresh dicts (never shared objects, so the YAML has no anchors).
"""

from __future__ import annotations

from typing import Any

from pedigree import __version__
from pedigree.compile import DEFAULT_NAMESPACE
from pedigree.envvars import IMAGE_ENV, REMOTE_ENV, WORKFLOW_ENV
from pedigree.spec.model import Resources, Stage

NAMESPACE = DEFAULT_NAMESPACE
SERVICE_ACCOUNT = "pedigree-pipeline"
S3_SECRET = "pedigree-s3"
# Claimed only by stages that declare `state` (see step_volumes); pets declares none.
STATE_PVC = "pedigree-state"
WORKSPACE = "/workspace"
RUNNER_PYTHON = "/opt/pedigree/runner/bin/python"
STEP_MODULE = "pedigree.cluster.step"
IMAGE_REPOSITORY = "pedigree"
USER_ID = 10001  # the non-root `pedigree` user (and group) baked into every image
SOURCE_ARTIFACT = "source"
# A private repository's credentials: the Secret the git artifact reads them from (never the
# URL, which anyone who can list Workflows reads). See cluster-conf/README.md.
GIT_SECRET = "pedigree-git"
GIT_SECRET_KEYS = {"usernameSecret": "username", "passwordSecret": "password"}
PART_OF_LABEL = "app.kubernetes.io/part-of"
PIPELINE_LABEL = "pedigree.dev/pipeline"
STAGE_LABEL = "pedigree.dev/stage"
GPU_RESOURCE = "nvidia.com/gpu"

# A hung step (a stalled S3 transfer, a deadlocked data loader) must not hold a node forever,
# yet a real training run on a full data set takes far longer than our 2-core measurements
# (train: minutes here). Four hours per attempt is generous for every stage we have.
STEP_DEADLINE_SECONDS = 4 * 60 * 60

# Retries wait 30 s, then 60 s, 120 s, ... capped at 5 min: long enough for a node, MinIO or
# the API server to come back, short enough not to idle the run. No `maxDuration` on purpose:
# Argo measures it from the start of the *first* attempt and also makes it the deadline of
# every retried pod, so any value short enough to matter would stop a long stage (train) from
# being retried at all, or kill its retry. Each attempt is bounded by STEP_DEADLINE_SECONDS and
# the whole run by the workflow's deadline instead.
BACKOFF = {"duration": "30s", "factor": "2", "cap": "5m"}


def stage_image(stage: Stage) -> str:
    """The image a stage runs in on a cluster: `pedigree/<stage>:<pedigree version>`."""
    return f"{IMAGE_REPOSITORY}/{stage.name}:{__version__}"


def step_command(stage: Stage) -> list[str]:
    """The container command: the step runner's interpreter (not on PATH) and the stage."""
    return [RUNNER_PYTHON, "-m", STEP_MODULE, "--stage", stage.name]


def source_artifact(git_secret: str | None = None) -> dict[str, Any]:
    """The project checked out at /workspace at the run's revision.

    A full clone (no `depth`): the revision may be any commit, and lineage records the
    commit the stage ran at. With `git_secret`, Argo clones with the user name and password
    (or token) held by that Secret's `username` and `password` keys. Argo has no optional
    Secret here (a missing one keeps the pod from starting), so a public repository's
    template names none.
    """
    git: dict[str, Any] = {
        "repo": "{{workflow.parameters.repo}}",
        "revision": "{{workflow.parameters.revision}}",
    }
    if git_secret:
        git.update(
            {field: {"name": git_secret, "key": key} for field, key in GIT_SECRET_KEYS.items()}
        )
    return {"name": SOURCE_ARTIFACT, "path": WORKSPACE, "git": git}


def step_env(image: str) -> list[dict[str, Any]]:
    """What the step runner reads. Credentials come from the Secret, never as literal values.

    `image` is the container's own image reference, as PEDIGREE_IMAGE: the step records it in
    lineage when the pod's status gives no digest. An overlay's `images:` entries rewrite this
    value as they rewrite the image (cluster-conf/base/kustomizeconfig/), so where production
    pins the image by digest, the value names that digest too.
    """
    return [
        {"name": REMOTE_ENV, "value": "{{workflow.parameters.remote}}"},
        {"name": "AWS_ENDPOINT_URL", "value": "{{workflow.parameters.s3-endpoint}}"},
        _secret_env("AWS_ACCESS_KEY_ID", "accesskey"),
        _secret_env("AWS_SECRET_ACCESS_KEY", "secretkey"),
        _field_env("POD_NAME", "metadata.name"),
        _field_env("POD_NAMESPACE", "metadata.namespace"),
        {"name": IMAGE_ENV, "value": image},
        {"name": WORKFLOW_ENV, "value": "{{workflow.name}}"},
        # The root filesystem is read-only; HOME on the writable /tmp volume gives tools
        # (git, dvc, matplotlib) somewhere to keep their config and caches.
        {"name": "HOME", "value": "/tmp"},
    ]


def _secret_env(name: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": S3_SECRET, "key": key}}}


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def step_resources(resources: Resources) -> dict[str, Any]:
    """Requests and limits from the spec (equal, so a step gets what it was measured with).

    A GPU is an extended resource: Kubernetes takes its request from the limit.
    """
    quantities: dict[str, str] = {}
    if resources.cpu is not None:
        quantities["cpu"] = resources.cpu
    if resources.memory is not None:
        quantities["memory"] = resources.memory
    limits = dict(quantities)
    if resources.gpu:
        limits[GPU_RESOURCE] = str(resources.gpu)
    result: dict[str, Any] = {}
    if limits:
        result["limits"] = limits
    if quantities:
        result["requests"] = dict(quantities)
    return result


def container_security_context() -> dict[str, Any]:
    """Non-root, read-only root filesystem, no privilege escalation, no capabilities."""
    return {
        "runAsNonRoot": True,
        "runAsUser": USER_ID,
        "runAsGroup": USER_ID,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context() -> dict[str, Any]:
    """The pod's defaults (Argo's own init and wait containers included).

    fsGroup makes the volumes (the checkout, /tmp, a `state` PVC) writable by the user.
    """
    return {
        "runAsNonRoot": True,
        "runAsUser": USER_ID,
        "runAsGroup": USER_ID,
        "fsGroup": USER_ID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def retry_strategy(retries: int) -> dict[str, Any]:
    """Retry `retries` times with exponential backoff.

    `Always` retries errors (an evicted pod, a failed checkout) as well as failures (the stage
    exited non-zero, e.g. a dropped S3 connection): a stage re-run on the same inputs is
    deterministic, so retrying is always safe. Quantities are strings (IntOrString in Argo).
    """
    return {"limit": str(retries), "retryPolicy": "Always", "backoff": dict(BACKOFF)}


def step_volumes(stage: Stage) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The step's volumes and the container's mounts.

    /tmp is an emptyDir because the root filesystem is read-only. A stage that declares
    `state` (paths outside git and DVC that outlive runs) gets them from the PVC STATE_PVC,
    each under its own subPath and mounted at its place in the checkout, since the checkout is
    new in every pod. (Container runtimes mount parents first, so these nest inside the
    /workspace artifact.) The pets pipeline declares none: its model registry is files in git,
    read from the checked-out revision, and its new event files travel home through the DVC
    remote (`pedigree.cluster.files`), so its template claims no volume. A pipeline that does
    declare `state` must add a PVC named STATE_PVC to its cluster configuration.
    """
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    if stage.state:
        volumes.append({"name": "state", "persistentVolumeClaim": {"claimName": STATE_PVC}})
        mounts += [
            {"name": "state", "mountPath": f"{WORKSPACE}/{path}", "subPath": path}
            for path in stage.state
        ]
    return volumes, mounts


def step_template(stage: Stage, git_secret: str | None = None) -> dict[str, Any]:
    """The container template named after `stage`, run by the DAG task of the same name
    (`git_secret`: see `source_artifact`)."""
    volumes, mounts = step_volumes(stage)
    container: dict[str, Any] = {
        "image": stage_image(stage),
        "command": step_command(stage),
        "workingDir": WORKSPACE,
        "env": step_env(stage_image(stage)),
    }
    resources = step_resources(stage.resources)
    if resources:
        container["resources"] = resources
    container["securityContext"] = container_security_context()
    container["volumeMounts"] = mounts
    template: dict[str, Any] = {
        "name": stage.name,
        # The stage label lets `pedigree logs RUN STAGE` find the stage's pods.
        "metadata": {"labels": {STAGE_LABEL: stage.name}},
        "inputs": {"artifacts": [source_artifact(git_secret)]},
        "container": container,
        "volumes": volumes,
        # IntOrString in Argo's schema: written as a string.
        "activeDeadlineSeconds": str(STEP_DEADLINE_SECONDS),
    }
    if stage.retries > 0:
        template["retryStrategy"] = retry_strategy(stage.retries)
    return template
