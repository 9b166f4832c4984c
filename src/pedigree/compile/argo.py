"""Compile a pipeline spec to Argo Workflows: a WorkflowTemplate and a small Workflow using it.

Pure functions from spec to objects and text (no I/O), deterministic: same spec, same bytes.

- `cluster-conf/base/workflowtemplate-<pipeline>.yaml`: the WorkflowTemplate
  `pedigree-<pipeline>`. Its entrypoint is a DAG with one task per stage; a task depends on the
  stages that produce its inputs (`pedigree.graph`), so independent stages run in parallel. Argo
  CD syncs it from git like the rest of `cluster-conf/`.
- `cluster-conf/workflows/<pipeline>.yaml`: a Workflow that only references the template;
  `kubectl create -f` of it runs the template's defaults, and `pedigree submit` posts the same
  object (`workflow_object`) with repo and revision arguments.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from pedigree.compile.argo_step import (
    NAMESPACE,
    PART_OF_LABEL,
    PIPELINE_LABEL,
    SERVICE_ACCOUNT,
    pod_security_context,
    step_template,
)
from pedigree.compile.dvc import check_header_path, strings_in
from pedigree.errors import PedigreeError, Problem, SpecError
from pedigree.graph import build_graph
from pedigree.redact import url_without_credentials
from pedigree.spec.model import PipelineSpec
from pedigree.spec.text import ARGO_EXPRESSION, hidden_char

API_VERSION = "argoproj.io/v1alpha1"
ENTRYPOINT = "pipeline"
HEADER = (
    "# generated from {spec} by pedigree, do not edit: change {spec} and run "
    "`pedigree compile --target argo`\n"
)
DEFAULT_REVISION = "main"
DEFAULT_REMOTE = "s3://pedigree/dvc"
DEFAULT_S3_ENDPOINT = "http://minio.pedigree.svc.cluster.local:9000"
PARAMETERS = ("repo", "revision", "remote", "s3-endpoint")
DESCRIPTION_ANNOTATION = "workflows.argoproj.io/description"  # shown by the Argo UI
# Argo evaluates `{{...}}` in the strings of a WorkflowTemplate and its Workflows. The only
# expressions in ours are the ones pedigree writes (the run's parameters and name); a `{{` from
# the spec or from `pedigree submit`'s arguments would be evaluated too. Validation refuses
# them; the compiler refuses them again (`refuse_expressions`), so a spec built in code cannot
# bypass the check.
OWN_EXPRESSION = re.compile(r"\{\{workflow\.(parameters\.[a-z0-9-]+|name)\}\}")

# The whole run, every stage and retry included: three times the step deadline, room for a slow
# stage plus its retry and everything else. A run still going after 12 hours is stuck, and a
# stuck run holds nodes until something stops it.
WORKFLOW_DEADLINE_SECONDS = 12 * 60 * 60

# Pods are deleted once they finish, but only after this delay: `pedigree logs RUN STAGE`
# reads a step's log from its pod (no artifact repository archives logs), so a finished run's
# logs stay readable for an hour, and finished pods still do not pile up.
POD_GC = {"strategy": "OnPodCompletion", "deleteDelayDuration": "1h"}

# Finished Workflow objects go away too. A success has nothing left to inspect (its results
# are in the DVC remote and its lineage records); a failure stays a week for debugging.
# secondsAfterCompletion covers what is neither (a workflow that ended in Error).
DAY_SECONDS = 24 * 60 * 60
TTL_STRATEGY = {
    "secondsAfterSuccess": DAY_SECONDS,
    "secondsAfterFailure": 7 * DAY_SECONDS,
    "secondsAfterCompletion": 7 * DAY_SECONDS,
}


def template_name(pipeline: str) -> str:
    """The WorkflowTemplate's name in the cluster: `pedigree-<pipeline>`."""
    return f"pedigree-{pipeline}"


def workflow_template_path(pipeline: str) -> str:
    """Repo-relative path of the compiled WorkflowTemplate."""
    return f"cluster-conf/base/workflowtemplate-{pipeline}.yaml"


def workflow_path(pipeline: str) -> str:
    """Repo-relative path of the Workflow that runs the template."""
    return f"cluster-conf/workflows/{pipeline}.yaml"


def labels(pipeline: str) -> dict[str, str]:
    """The labels every object of the pipeline carries."""
    return {PART_OF_LABEL: "pedigree", PIPELINE_LABEL: pipeline}


def workflow_parameters(spec: PipelineSpec) -> list[dict[str, Any]]:
    """The template's parameters and their defaults (a Workflow's arguments override them).

    `repo` has no default unless the spec names `metadata.repository`; a run without one then
    fails at submission saying the value is required.
    """
    repo: dict[str, Any] = {"name": "repo"}
    if spec.metadata.repository:
        # Never a credential in a committed, cluster-readable file (pedigree.redact).
        repo["value"] = url_without_credentials(spec.metadata.repository)
    repo["description"] = "git URL of the project, checked out at /workspace in every step"
    return [
        repo,
        {
            "name": "revision",
            "value": DEFAULT_REVISION,
            "description": "git commit, tag or branch to run",
        },
        {
            "name": "remote",
            "value": DEFAULT_REMOTE,
            "description": "DVC remote: inputs are restored from it, outputs and run-cache pushed",
        },
        {
            "name": "s3-endpoint",
            "value": DEFAULT_S3_ENDPOINT,
            "description": "S3 endpoint of the DVC remote (MinIO in the cluster)",
        },
    ]


def dag_template(spec: PipelineSpec) -> dict[str, Any]:
    """The entrypoint: one task per stage, depending on the stages that feed it."""
    graph = build_graph(spec)
    position = {name: i for i, name in enumerate(graph.order)}
    tasks = []
    for name in graph.order:
        task: dict[str, Any] = {"name": name, "template": name}
        # Run order, not the order deps happen to be declared in: the same graph, same bytes.
        ups = sorted(graph.upstream[name], key=position.__getitem__)
        if ups:
            task["dependencies"] = ups
        tasks.append(task)
    return {"name": ENTRYPOINT, "dag": {"tasks": tasks}}


def _require_free_entrypoint(spec: PipelineSpec, spec_path: str) -> None:
    for i, stage in enumerate(spec.stages):
        if stage.name == ENTRYPOINT:
            raise SpecError(
                [
                    Problem(
                        spec_path,
                        None,
                        f"spec.stages[{i}].name",
                        f"stage name '{ENTRYPOINT}' is reserved: it names the Argo entrypoint",
                        "rename the stage (its outputs and dependents keep working)",
                    )
                ]
            )


def _copied_strings(spec: PipelineSpec) -> Iterator[tuple[str, str]]:
    """(key path, value) of every spec string the Argo compiler copies into its objects."""
    meta = spec.metadata
    for key, value in (("name", meta.name), ("description", meta.description)):
        if value:
            yield f"metadata.{key}", value
    if meta.repository:
        yield "metadata.repository", meta.repository
    for i, stage in enumerate(spec.stages):
        yield f"spec.stages[{i}].name", stage.name
        for key in ("cpu", "memory"):
            value = getattr(stage.resources, key)
            if value is not None:
                yield f"spec.stages[{i}].resources.{key}", value
        for j, path in enumerate(stage.state):
            yield f"spec.stages[{i}].state[{j}]", path


def refuse_expressions(
    spec: PipelineSpec,
    obj: Mapping[str, Any],
    spec_path: str,
    own: re.Pattern[str] = OWN_EXPRESSION,
) -> None:
    """SpecError when a spec string with Argo's `{{` reaches `obj` (compiled from `spec`).

    Checks the spec's copied strings, then every string of `obj`: an expression that is not one
    pedigree writes (`own`, OWN_EXPRESSION unless a template writes more) came from somewhere
    it must not.
    """
    hint = "write the value literally, without '{{'"
    problems = [
        Problem(
            spec_path,
            None,
            where,
            f"{value!r} contains '{ARGO_EXPRESSION}': Argo would evaluate it as an expression "
            "in the WorkflowTemplate",
            hint,
        )
        for where, value in _copied_strings(spec)
        if ARGO_EXPRESSION in value
    ]
    if not problems:
        problems = [
            Problem(
                spec_path,
                None,
                "",
                f"the compiled {obj.get('kind', 'object')} would hold {text!r} at {where}: "
                "Argo would evaluate that expression",
                hint,
            )
            for where, text in strings_in(dict(obj), obj.get("kind", "object"))
            if ARGO_EXPRESSION in text and not own.fullmatch(text)
        ]
    if problems:
        raise SpecError(problems)


def workflow_template_object(
    spec: PipelineSpec, spec_path: str = "the pipeline spec", git_secret: str | None = None
) -> dict[str, Any]:
    """The WorkflowTemplate `pedigree-<pipeline>` as a plain dict.

    `git_secret` names the Secret a private repository's clone credentials come from (see
    `pedigree.compile.argo_step.source_artifact`); none for a public repository.
    Raises SpecError (naming `spec_path`) when a stage is called like the entrypoint or a spec
    string holds Argo's `{{`.
    """
    _require_free_entrypoint(spec, spec_path)
    pipeline = spec.metadata.name
    metadata: dict[str, Any] = {
        "name": template_name(pipeline),
        "namespace": NAMESPACE,
        "labels": labels(pipeline),
    }
    if spec.metadata.description:
        metadata["annotations"] = {DESCRIPTION_ANNOTATION: spec.metadata.description}
    order = build_graph(spec).order
    templates = [
        dag_template(spec),
        *(step_template(spec.stage(name), git_secret) for name in order),
    ]
    template = template_object(metadata, workflow_parameters(spec), templates)
    refuse_expressions(spec, template, spec_path)
    return template


def template_object(
    metadata: dict[str, Any], parameters: list[dict[str, Any]], templates: list[dict[str, Any]]
) -> dict[str, Any]:
    """A WorkflowTemplate of pedigree's: its entrypoint the first of `templates`, the
    pipeline's service account, security context, deadline and clean-up (the pipeline's
    template and the fold replicate's share them)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "WorkflowTemplate",
        "metadata": metadata,
        "spec": {
            "entrypoint": ENTRYPOINT,
            "arguments": {"parameters": parameters},
            "serviceAccountName": SERVICE_ACCOUNT,
            "securityContext": pod_security_context(),
            "podMetadata": {"labels": dict(metadata["labels"])},
            "activeDeadlineSeconds": WORKFLOW_DEADLINE_SECONDS,
            "podGC": dict(POD_GC),
            "ttlStrategy": dict(TTL_STRATEGY),
            "templates": templates,
        },
    }


def workflow_object(
    spec: PipelineSpec, parameters: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The Workflow that runs `pedigree-<pipeline>`: the object `kubectl create -f` would post.

    Without `parameters` it is exactly the committed `cluster-conf/workflows/<pipeline>.yaml`
    (the template's defaults apply). With them (e.g. {"repo": ..., "revision": ...}) it carries
    them as arguments, in the template's parameter order.
    """
    pipeline = spec.metadata.name
    workflow_spec: dict[str, Any] = {"workflowTemplateRef": {"name": template_name(pipeline)}}
    if parameters:
        unknown = sorted(set(parameters) - set(PARAMETERS))
        if unknown:
            raise PedigreeError(
                f"unknown workflow parameter(s): {', '.join(unknown)}",
                f"the WorkflowTemplate {template_name(pipeline)} takes: {', '.join(PARAMETERS)}",
            )
        for name, value in parameters.items():
            _check_argument(name, str(value))
        workflow_spec["arguments"] = {
            "parameters": [
                {"name": name, "value": str(parameters[name])}
                for name in PARAMETERS
                if name in parameters
            ]
        }
    workflow = {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {
            "generateName": f"{pipeline}-",
            "namespace": NAMESPACE,
            "labels": labels(pipeline),
        },
        "spec": workflow_spec,
    }
    refuse_expressions(spec, workflow, "the pipeline spec")
    return workflow


def _check_argument(name: str, value: str) -> None:
    """A submitted parameter is passed literally: no Argo expression, no control character."""
    if ARGO_EXPRESSION in value:
        raise PedigreeError(
            f"workflow parameter {name}={value!r} contains '{ARGO_EXPRESSION}': Argo would "
            "evaluate it as an expression",
            f"pass the {name} literally, without '{{{{'",
        )
    char = hidden_char(value)
    if char is not None:
        raise PedigreeError(
            f"workflow parameter {name}={value!r} contains the control character U+{ord(char):04X}",
            f"pass the {name} without it",
        )


class _NoAliases(yaml.SafeDumper):
    """Never write YAML anchors: each object spelled out, as a reader expects."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(obj: Mapping[str, Any], spec_path: str) -> str:
    """The generated-from header, then `obj` as block YAML (keys in insertion order)."""
    check_header_path(spec_path)
    body = yaml.dump(
        obj,
        Dumper=_NoAliases,
        sort_keys=False,
        width=4096,
        default_flow_style=False,
        allow_unicode=True,
    )
    return HEADER.format(spec=spec_path) + body


def render_argo(spec: PipelineSpec, spec_path: str) -> dict[str, str]:
    """Repo-relative path -> text of both generated files (WorkflowTemplate first)."""
    pipeline = spec.metadata.name
    return {
        workflow_template_path(pipeline): dump(
            workflow_template_object(spec, spec_path), spec_path
        ),
        workflow_path(pipeline): dump(workflow_object(spec), spec_path),
    }
