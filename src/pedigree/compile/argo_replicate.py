"""Compile `pedigree replicate --folds` to Argo Workflows: one task per fold x seed, in parallel.

For a spec that declares `spec.replicate.folds`, `pedigree compile --target argo` also writes

- `cluster-conf/base/workflowtemplate-<pipeline>-replicate.yaml`: the WorkflowTemplate
  `pedigree-<pipeline>-replicate`. Its DAG has three steps, each a pod of the replicate image
  (`pedigree/replicate:<version>`, the fold stages' and the label audit's environment):
  1. `plan` deals the folds (from the split records restored from the DVC remote) and prints
     the runs as a JSON list;
  2. `fold-run`, fanned out over that list (`withParam`): one pod per fold x seed runs the fold
     stages in its workspace and pushes the workspace to the remote;
  3. `gather` brings every run's workspace back, checks each is current (nothing is re-run),
     writes the summary, runs the label audit and sends replicates/summary.json and the label
     issues home as files for git; `pedigree pull RUN` puts them in place.
- `cluster-conf/workflows/<pipeline>-replicate.yaml`: the Workflow that runs it with its
  defaults (`kubectl create -f`).

The entry point in every pod is `python -m pedigree.api.foldstep` (see there). Pure functions
(no I/O), deterministic like the pipeline's template (`pedigree.compile.argo`).
"""

from __future__ import annotations

import re
from typing import Any

from pedigree import __version__
from pedigree.compile.argo import (
    API_VERSION,
    DESCRIPTION_ANNOTATION,
    ENTRYPOINT,
    dump,
    labels,
    refuse_expressions,
    template_object,
    workflow_parameters,
)
from pedigree.compile.argo_step import (
    IMAGE_REPOSITORY,
    NAMESPACE,
    STAGE_LABEL,
    STEP_DEADLINE_SECONDS,
    WORKSPACE,
    container_security_context,
    retry_strategy,
    source_artifact,
    step_env,
    step_resources,
)
from pedigree.errors import Problem, SpecError
from pedigree.graph import fold_stages
from pedigree.spec.model import PipelineSpec, Resources, Stage

IMAGE = "replicate"  # the image's name: pedigree/replicate:<version> (images/replicate/)
STEP_MODULE = "pedigree.api.foldstep"
# The image's one environment (the fold stages', the label audit's and the step runner's), not
# the base's runner: the step runs `pedigree replicate`, which imports the stages' params
# modules (numpy...) as well as DVC.
VENV_PYTHON = "/opt/pedigree/venv/bin/python"
PLAN, RUN, GATHER = "plan", "fold-run", "gather"  # the templates (and DAG tasks)
SUBCOMMANDS = {PLAN: "plan", RUN: "run", GATHER: "gather"}  # foldstep's, per template
DEFAULT_FOLDS = "5"
# Expressions this template writes beyond the pipeline's: the planned list and its items.
OWN_EXPRESSION = re.compile(
    r"\{\{(workflow\.(parameters\.[a-z0-9-]+|name)|tasks\.plan\.outputs\.result"
    r"|item\.(fold|seed|plan)|inputs\.parameters\.(fold|seed|plan))\}\}"
)


def template_name(pipeline: str) -> str:
    """The WorkflowTemplate's name: `pedigree-<pipeline>-replicate`."""
    return f"pedigree-{pipeline}-replicate"


def workflow_template_path(pipeline: str) -> str:
    """Repo-relative path of the compiled replicate WorkflowTemplate."""
    return f"cluster-conf/base/workflowtemplate-{pipeline}-replicate.yaml"


def workflow_path(pipeline: str) -> str:
    """Repo-relative path of the Workflow that runs it."""
    return f"cluster-conf/workflows/{pipeline}-replicate.yaml"


def image() -> str:
    """The image every step runs in: `pedigree/replicate:<pedigree version>`."""
    return f"{IMAGE_REPOSITORY}/{IMAGE}:{__version__}"


def _fold_stages(spec: PipelineSpec) -> list[Stage]:
    """The stages a fold run runs, in order (`pedigree.graph.fold_stages`)."""
    return [spec.stage(name) for name in fold_stages(spec)]


def _largest(stages: list[Stage]) -> Resources:
    """Per resource, the largest any fold stage asks for: a fold run runs them all in one pod."""
    from kubernetes.utils.quantity import parse_quantity

    def most(key: str) -> str | None:
        values = [getattr(s.resources, key) for s in stages if getattr(s.resources, key)]
        return max(values, key=parse_quantity) if values else None

    gpus = [s.resources.gpu for s in stages if s.resources.gpu]
    return Resources(cpu=most("cpu"), memory=most("memory"), gpu=max(gpus) if gpus else 0)


def step_command(step: str) -> list[str]:
    """The container command of `step`: the runner's interpreter and the fold step."""
    argv = [VENV_PYTHON, "-m", STEP_MODULE, SUBCOMMANDS[step]]
    argv += ["--folds", "{{workflow.parameters.folds}}", "--seeds", "{{workflow.parameters.seeds}}"]
    if step == RUN:
        argv += [
            "--fold",
            "{{inputs.parameters.fold}}",
            "--seed",
            "{{inputs.parameters.seed}}",
            "--plan",
            "{{inputs.parameters.plan}}",
        ]
    return argv


def _step_template(step: str, stages: list[Stage], git_secret: str | None) -> dict[str, Any]:
    # /tmp only: the root file system is read-only. A fold run's stages keep no `state`: their
    # results are the workspace the step pushes.
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    # PEDIGREE_IMAGE as in a pipeline step: the fold runs' lineage records name the image
    container: dict[str, Any] = {
        "image": image(),
        "command": step_command(step),
        "workingDir": WORKSPACE,
        "env": step_env(image()),
    }
    resources = step_resources(_largest(stages))
    if resources:
        container["resources"] = resources
    container["securityContext"] = container_security_context()
    container["volumeMounts"] = mounts
    inputs: dict[str, Any] = {"artifacts": [source_artifact(git_secret)]}
    if step == RUN:
        inputs = {"parameters": [{"name": n} for n in ("fold", "seed", "plan")], **inputs}
    template: dict[str, Any] = {
        "name": step,
        "metadata": {"labels": {STAGE_LABEL: f"replicate-{step}"}},
        "inputs": inputs,
        "container": container,
        "volumes": volumes,
        "activeDeadlineSeconds": str(STEP_DEADLINE_SECONDS),
    }
    retries = max((s.retries for s in stages), default=0)
    if retries > 0:
        template["retryStrategy"] = retry_strategy(retries)
    return template


def dag_template() -> dict[str, Any]:
    """plan, then one fold-run task per planned item, then gather."""
    return {
        "name": ENTRYPOINT,
        "dag": {
            "tasks": [
                {"name": PLAN, "template": PLAN},
                {
                    "name": RUN,
                    "template": RUN,
                    "dependencies": [PLAN],
                    "arguments": {
                        "parameters": [
                            {"name": n, "value": f"{{{{item.{n}}}}}"}
                            for n in ("fold", "seed", "plan")
                        ]
                    },
                    "withParam": "{{tasks.plan.outputs.result}}",
                },
                {"name": GATHER, "template": GATHER, "dependencies": [RUN]},
            ]
        },
    }


def parameters(spec: PipelineSpec) -> list[dict[str, Any]]:
    """The pipeline template's parameters, then the replicate's own: folds and seeds."""
    return [
        *workflow_parameters(spec),
        {
            "name": "folds",
            "value": DEFAULT_FOLDS,
            "description": "number of folds K (2 to 50): each fold is held out once",
        },
        {
            "name": "seeds",
            "value": "",
            "description": "comma-separated seeds each fold runs with; empty: the project's seed",
        },
    ]


def workflow_template_object(
    spec: PipelineSpec, spec_path: str = "the pipeline spec", git_secret: str | None = None
) -> dict[str, Any]:
    """The WorkflowTemplate `pedigree-<pipeline>-replicate` as a plain dict; SpecError when the
    spec declares no folds."""
    stages = _fold_stages(spec)
    if spec.folds is None or not stages:
        raise SpecError(
            [
                Problem(
                    spec_path,
                    None,
                    "spec.replicate.folds",
                    "the spec declares no folds: there is no fold replicate to compile",
                    "declare spec.replicate.folds (docs/spec.md), or compile without --replicate",
                )
            ]
        )
    pipeline = spec.metadata.name
    metadata: dict[str, Any] = {
        "name": template_name(pipeline),
        "namespace": NAMESPACE,
        "labels": labels(pipeline),
        "annotations": {
            DESCRIPTION_ANNOTATION: f"pedigree replicate --folds for pipeline {pipeline}: "
            "one pod per fold x seed, then the summary and the label audit"
        },
    }
    templates = [
        dag_template(),
        *(_step_template(step, stages, git_secret) for step in (PLAN, RUN, GATHER)),
    ]
    template = template_object(metadata, parameters(spec), templates)
    refuse_expressions(spec, template, spec_path, OWN_EXPRESSION)
    return template


def workflow_object(spec: PipelineSpec) -> dict[str, Any]:
    """The Workflow that runs `pedigree-<pipeline>-replicate` with its defaults."""
    pipeline = spec.metadata.name
    workflow = {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {
            "generateName": f"{pipeline}-replicate-",
            "namespace": NAMESPACE,
            "labels": labels(pipeline),
        },
        "spec": {"workflowTemplateRef": {"name": template_name(pipeline)}},
    }
    refuse_expressions(spec, workflow, "the pipeline spec")
    return workflow


def render_replicate(spec: PipelineSpec, spec_path: str) -> dict[str, str]:
    """Repo-relative path -> text of both files (WorkflowTemplate first)."""
    pipeline = spec.metadata.name
    return {
        workflow_template_path(pipeline): dump(
            workflow_template_object(spec, spec_path), spec_path
        ),
        workflow_path(pipeline): dump(workflow_object(spec), spec_path),
    }
