"""Argo compilation: schema-valid, deterministic, secure by default; golden-file pinned."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from pedigree import __version__
from pedigree.api import main as api
from pedigree.compile.argo import (
    render_argo,
    workflow_object,
    workflow_path,
    workflow_template_object,
    workflow_template_path,
)
from pedigree.errors import PedigreeError, SpecError
from pedigree.graph import build_graph
from pedigree.spec.checks import load_spec
from pedigree.spec.model import PipelineSpec
from tests.conftest import REPO_ROOT
from tests.support.k8s_schemas import argo_errors, kubernetes_errors, step_pod

GOLDEN = REPO_ROOT / "tests" / "golden" / "argo"

# Three stages with a fan-out (train and profile both read prepare's output only, so they run in
# parallel), retries 0 and > 0, a GPU, and a stateful stage with two state paths.
FANOUT_SPEC = """\
apiVersion: pedigree/v1
kind: Pipeline
metadata:
  name: fanout
  description: Three stages, two of them in parallel.
  repository: https://git.example.com/team/fanout.git
spec:
  stages:
    - name: prepare
      cmd: [python, -m, stages.prepare, --out, data/prepared]
      outs: [data/prepared]
    - name: train
      cmd: [python, -m, stages.train]
      deps: [data/prepared/train, data/prepared/stats.json]
      outs: [models/model.bin]
      resources: {cpu: "4", memory: 16Gi, gpu: 1}
      retries: 3
    - name: profile
      cmd: [python, -m, stages.profile]
      deps: [data/prepared]
      metrics: [reports/profile.json]
      resources: {cpu: 500m, memory: 512Mi}
      retries: 0
      stateful: true
      state: [.pedigree/history, .pedigree/cache]
"""

# The same pipeline with every mapping's keys and the deps in another order.
FANOUT_SPEC_REORDERED = """\
kind: Pipeline
apiVersion: pedigree/v1
metadata:
  repository: https://git.example.com/team/fanout.git
  description: Three stages, two of them in parallel.
  name: fanout
spec:
  stages:
    - outs: [data/prepared]
      cmd: [python, -m, stages.prepare, --out, data/prepared]
      name: prepare
    - retries: 3
      resources: {gpu: 1, memory: 16Gi, cpu: "4"}
      deps: [data/prepared/stats.json, data/prepared/train]
      name: train
      outs: [models/model.bin]
      cmd: [python, -m, stages.train]
    - state: [.pedigree/history, .pedigree/cache]
      stateful: true
      resources: {memory: 512Mi, cpu: 500m}
      name: profile
      metrics: [reports/profile.json]
      deps: [data/prepared]
      cmd: [python, -m, stages.profile]
"""


def _spec(tmp_path: Path, text: str = FANOUT_SPEC) -> PipelineSpec:
    path = tmp_path / "fanout.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_spec(path)


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("PEDIGREE_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} changed; rerun with PEDIGREE_UPDATE_GOLDEN=1 if intended"
    )


def _steps(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in template["spec"]["templates"] if "container" in t}


def _env(step: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in step["container"]["env"]}


def test_fanout_matches_golden(tmp_path: Path) -> None:
    files = render_argo(_spec(tmp_path), "pipelines/fanout.yaml")
    assert list(files) == [workflow_template_path("fanout"), workflow_path("fanout")]
    _golden("fanout.workflowtemplate.yaml", files[workflow_template_path("fanout")])
    _golden("fanout.workflow.yaml", files[workflow_path("fanout")])


def test_pets_matches_golden_and_the_committed_files_are_current() -> None:
    files = api.render_argo_files(api.load(REPO_ROOT))
    _golden("pets.workflowtemplate.yaml", files["cluster-conf/base/workflowtemplate-pets.yaml"])
    _golden("pets.workflow.yaml", files["cluster-conf/workflows/pets.yaml"])
    for rel, text in files.items():
        path = REPO_ROOT / rel
        assert path.is_file(), f"{rel} is missing: run `pedigree compile --target argo`"
        assert path.read_text(encoding="utf-8") == text, (
            f"{rel} is stale: run `pedigree compile --target argo`"
        )


def test_render_is_deterministic_and_independent_of_key_and_deps_order(tmp_path: Path) -> None:
    first = render_argo(_spec(tmp_path), "pipelines/fanout.yaml")
    assert first == render_argo(_spec(tmp_path), "pipelines/fanout.yaml")
    assert first == render_argo(_spec(tmp_path, FANOUT_SPEC_REORDERED), "pipelines/fanout.yaml")


def test_header_says_generated_and_how_to_regenerate(tmp_path: Path) -> None:
    for text in render_argo(_spec(tmp_path), "pipelines/fanout.yaml").values():
        assert text.splitlines()[0] == (
            "# generated from pipelines/fanout.yaml by pedigree, do not edit: change "
            "pipelines/fanout.yaml and run `pedigree compile --target argo`"
        )
        assert "&id" not in text and "*id" not in text  # no YAML anchors


def test_every_generated_object_passes_the_argo_schema(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    pets = api.load(REPO_ROOT).spec
    for s in (spec, pets):
        assert argo_errors(workflow_template_object(s)) == []
        assert argo_errors(workflow_object(s)) == []
        assert argo_errors(workflow_object(s, {"repo": "https://x/y.git", "revision": "v1"})) == []
    for text in render_argo(spec, "pipelines/fanout.yaml").values():
        assert argo_errors(yaml.safe_load(text)) == []


def test_step_pods_are_valid_kubernetes_pods(tmp_path: Path) -> None:
    """The container and volumes of each step, as the pod Argo makes of them, pass --strict."""
    template = workflow_template_object(_spec(tmp_path))
    for name, step in _steps(template).items():
        assert kubernetes_errors(step_pod(template, name, step)) == [], name


def test_dag_dependencies_equal_the_stage_graph(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    graph = build_graph(spec)
    template = workflow_template_object(spec)
    assert template["spec"]["entrypoint"] == "pipeline"
    dag = next(t for t in template["spec"]["templates"] if t["name"] == "pipeline")
    tasks = {t["name"]: t for t in dag["dag"]["tasks"]}
    assert list(tasks) == list(graph.order)
    for name, task in tasks.items():
        assert task["template"] == name
        assert set(task.get("dependencies", ())) == set(graph.upstream[name])
    # the fan-out: train and profile wait for prepare only, so Argo runs them in parallel
    assert tasks["train"]["dependencies"] == ["prepare"]
    assert tasks["profile"]["dependencies"] == ["prepare"]
    assert "dependencies" not in tasks["prepare"]


def test_pets_dag_follows_the_pipeline() -> None:
    spec = api.load(REPO_ROOT).spec
    tasks = workflow_template_object(spec)["spec"]["templates"][0]["dag"]["tasks"]
    graph = build_graph(spec)
    assert [t["name"] for t in tasks] == list(graph.order)
    for task in tasks:
        assert set(task.get("dependencies", ())) == set(graph.upstream[task["name"]])


def test_credentials_never_appear_as_literal_values(tmp_path: Path) -> None:
    for step in _steps(workflow_template_object(_spec(tmp_path))).values():
        env = _env(step)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert "value" not in env[name]
            assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "pedigree-s3"
        assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["key"] == "accesskey"
        assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "secretkey"
        for name, entry in env.items():
            if name.startswith("AWS_") and "value" in entry:
                # the endpoint is not a secret, and even it comes from a workflow parameter
                assert entry["value"].startswith("{{workflow.parameters."), name


def test_every_step_names_its_own_image_in_its_env(tmp_path: Path) -> None:
    for name, step in _steps(workflow_template_object(_spec(tmp_path))).items():
        assert _env(step)["PEDIGREE_IMAGE"]["value"] == f"pedigree/{name}:{__version__}"


def test_step_env_tells_the_runner_where_it_is(tmp_path: Path) -> None:
    step = _steps(workflow_template_object(_spec(tmp_path)))["train"]
    env = _env(step)
    assert env["PEDIGREE_REMOTE"]["value"] == "{{workflow.parameters.remote}}"
    assert env["AWS_ENDPOINT_URL"]["value"] == "{{workflow.parameters.s3-endpoint}}"
    assert env["PEDIGREE_WORKFLOW"]["value"] == "{{workflow.name}}"
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["HOME"]["value"] == "/tmp"
    container = step["container"]
    assert container["image"] == f"pedigree/train:{__version__}"
    # the step's own image for lineage, where the pod's status gives no digest; an overlay's
    # `images:` rewrite it with the image (cluster-conf/base/kustomizeconfig/)
    assert env["PEDIGREE_IMAGE"] == {"name": "PEDIGREE_IMAGE", "value": container["image"]}
    assert container["command"] == [
        "/opt/pedigree/runner/bin/python",
        "-m",
        "pedigree.cluster.step",
        "--stage",
        "train",
    ]
    assert container["workingDir"] == "/workspace"
    assert step["inputs"]["artifacts"] == [
        {
            "name": "source",
            "path": "/workspace",
            "git": {
                "repo": "{{workflow.parameters.repo}}",
                "revision": "{{workflow.parameters.revision}}",
            },
        }
    ]


def test_pods_run_locked_down(tmp_path: Path) -> None:
    template = workflow_template_object(_spec(tmp_path))
    spec = template["spec"]
    assert spec["serviceAccountName"] == "pedigree-pipeline"
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for step in _steps(template).values():
        context = step["container"]["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] == 10001
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        # the root filesystem is read-only, so /tmp (HOME) is a writable volume
        assert {"name": "tmp", "mountPath": "/tmp"} in step["container"]["volumeMounts"]
        assert {"name": "tmp", "emptyDir": {}} in step["volumes"]


def test_deadlines_pod_gc_and_ttl(tmp_path: Path) -> None:
    template = workflow_template_object(_spec(tmp_path))
    spec = template["spec"]
    assert spec["activeDeadlineSeconds"] == 12 * 3600
    assert spec["podGC"] == {"strategy": "OnPodCompletion", "deleteDelayDuration": "1h"}
    ttl = spec["ttlStrategy"]
    assert ttl["secondsAfterSuccess"] < ttl["secondsAfterFailure"]
    assert ttl["secondsAfterCompletion"] == ttl["secondsAfterFailure"]
    for step in _steps(template).values():
        assert int(step["activeDeadlineSeconds"]) == 4 * 3600


def test_retries_resources_and_gpu_follow_the_spec(tmp_path: Path) -> None:
    steps = _steps(workflow_template_object(_spec(tmp_path)))
    assert "retryStrategy" not in steps["prepare"] and "retryStrategy" not in steps["profile"]
    assert steps["train"]["retryStrategy"] == {
        "limit": "3",
        "retryPolicy": "Always",
        "backoff": {"duration": "30s", "factor": "2", "cap": "5m"},
    }
    assert "resources" not in steps["prepare"]["container"]  # none declared, none invented
    assert steps["train"]["container"]["resources"] == {
        "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
        "requests": {"cpu": "4", "memory": "16Gi"},
    }
    assert steps["profile"]["container"]["resources"] == {
        "limits": {"cpu": "500m", "memory": "512Mi"},
        "requests": {"cpu": "500m", "memory": "512Mi"},
    }


def test_state_paths_live_on_the_state_volume(tmp_path: Path) -> None:
    steps = _steps(workflow_template_object(_spec(tmp_path)))
    profile = steps["profile"]
    assert {"name": "state", "persistentVolumeClaim": {"claimName": "pedigree-state"}} in profile[
        "volumes"
    ]
    mounts = [m for m in profile["container"]["volumeMounts"] if m["name"] == "state"]
    assert mounts == [
        {
            "name": "state",
            "mountPath": "/workspace/.pedigree/history",
            "subPath": ".pedigree/history",
        },
        {"name": "state", "mountPath": "/workspace/.pedigree/cache", "subPath": ".pedigree/cache"},
    ]
    for name in ("prepare", "train"):  # stateless stages never touch the volume
        assert all(v["name"] != "state" for v in steps[name]["volumes"])


def test_pets_release_reads_the_registry_from_the_checkout() -> None:
    # The registry is files in git (registry/pets): the release step reads it from the
    # checked-out revision, so no pets step mounts anything but /tmp.
    steps = _steps(workflow_template_object(api.load(REPO_ROOT).spec))
    assert steps["release"]["container"]["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    for name, step in steps.items():
        assert step["volumes"] == [{"name": "tmp", "emptyDir": {}}], name


def test_parameters_and_their_defaults(tmp_path: Path) -> None:
    params = workflow_template_object(_spec(tmp_path))["spec"]["arguments"]["parameters"]
    values = {p["name"]: p.get("value") for p in params}
    assert values == {
        "repo": "https://git.example.com/team/fanout.git",
        "revision": "main",
        "remote": "s3://pedigree/dvc",
        "s3-endpoint": "http://minio.pedigree.svc.cluster.local:9000",
    }
    # no metadata.repository: no default, `pedigree submit` passes the repo
    no_repo = _spec(
        tmp_path, FANOUT_SPEC.replace("  repository: https://git.example.com/team/fanout.git\n", "")
    )
    repo = workflow_template_object(no_repo)["spec"]["arguments"]["parameters"][0]
    assert repo["name"] == "repo" and "value" not in repo


def test_names_labels_and_namespace(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    template = workflow_template_object(spec)
    labels = {"app.kubernetes.io/part-of": "pedigree", "pedigree.dev/pipeline": "fanout"}
    assert template["metadata"]["name"] == "pedigree-fanout"
    assert template["metadata"]["namespace"] == "pedigree"
    assert template["metadata"]["labels"] == labels
    assert template["spec"]["podMetadata"] == {"labels": labels}
    for name, step in _steps(template).items():
        assert step["metadata"] == {"labels": {"pedigree.dev/stage": name}}


def test_workflow_object_is_the_committed_file_and_takes_arguments(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    text = render_argo(spec, "pipelines/fanout.yaml")[workflow_path("fanout")]
    plain = workflow_object(spec)
    assert yaml.safe_load(text) == plain
    assert plain == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "generateName": "fanout-",
            "namespace": "pedigree",
            "labels": {"app.kubernetes.io/part-of": "pedigree", "pedigree.dev/pipeline": "fanout"},
        },
        "spec": {"workflowTemplateRef": {"name": "pedigree-fanout"}},
    }
    submitted = workflow_object(spec, {"revision": "abc123", "repo": "https://x/y.git"})
    assert submitted["spec"]["arguments"] == {
        "parameters": [
            {"name": "repo", "value": "https://x/y.git"},
            {"name": "revision", "value": "abc123"},
        ]
    }


def test_workflow_object_refuses_unknown_parameters(tmp_path: Path) -> None:
    with pytest.raises(PedigreeError, match=r"unknown workflow parameter\(s\): branch"):
        workflow_object(_spec(tmp_path), {"branch": "main"})


def test_a_stage_named_like_the_entrypoint_is_refused(tmp_path: Path) -> None:
    spec = _spec(tmp_path, FANOUT_SPEC.replace("name: profile", "name: pipeline"))
    with pytest.raises(SpecError, match=r"stage name 'pipeline' is reserved"):
        render_argo(spec, "pipelines/fanout.yaml")
