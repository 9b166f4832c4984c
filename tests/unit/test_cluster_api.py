"""The cluster API: submit posts the compiled Workflow plus arguments; status, watch and logs read
the run back. Real `kubernetes` client, real HTTP, kmock's mock API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pedigree.api import cluster as cluster_api
from pedigree.api import main as api
from pedigree.cluster.kube import PodGoneError
from pedigree.errors import PedigreeError, ProjectError, RunNotFoundError
from tests.conftest import VALID_SPEC, make_project, pets_copy
from tests.unit.cluster.kube_mock import (
    ORIGIN,
    RUN,
    WORKFLOWS,
    MockArgo,
    committed_project,
    git,
    in_thread,
    node,
    pod,
    retried,
    workflow,
)


def compiled(root: Path) -> dict[str, Any]:
    text = (root / "cluster-conf" / "workflows" / "pets.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


@pytest.mark.asyncio
async def test_submit_posts_the_compiled_workflow_plus_arguments(
    argo: MockArgo, tmp_path: Path
) -> None:
    root = committed_project(tmp_path / "proj")
    head = git(root, "rev-parse", "HEAD")
    posted = argo.accept_submit("pets-abcde")
    done = await in_thread(cluster_api.submit, root)
    assert (done.run, done.namespace, done.context, done.warnings) == (
        "pets-abcde",
        "pedigree",
        "mock",
        (),
    )
    expected = compiled(root)
    expected["spec"]["arguments"] = {
        "parameters": [{"name": "repo", "value": ORIGIN}, {"name": "revision", "value": head}]
    }
    assert len(posted) == 1 and posted[0].data == expected
    assert posted[0].url.path == WORKFLOWS


@pytest.mark.asyncio
async def test_submit_warns_when_the_cluster_would_not_see_the_same_code(
    argo: MockArgo, tmp_path: Path
) -> None:
    root = committed_project(tmp_path / "proj", origin=None)
    (root / "params.yaml").write_text(
        "ingest:\n  seed: 2\ntransform:\n  size: 8\n", encoding="utf-8"
    )
    posted = argo.accept_submit()
    done = await in_thread(cluster_api.submit, root)
    text = "\n".join(done.warnings)
    assert "uncommitted changes are not part of the run" in text
    assert "is on no remote branch: push it" in text
    assert "there is no `origin` remote; pass --repo URL" in text
    assert [p["name"] for p in posted[0].data["spec"]["arguments"]["parameters"]] == ["revision"]


@pytest.mark.asyncio
async def test_submit_warns_when_the_compiled_template_is_stale(
    argo: MockArgo, tmp_path: Path
) -> None:
    root = committed_project(tmp_path / "proj")
    template = root / "cluster-conf" / "base" / "workflowtemplate-pets.yaml"
    template.write_text(template.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    argo.accept_submit()
    done = await in_thread(cluster_api.submit, root)
    assert any(
        "cluster-conf/base/workflowtemplate-pets.yaml differ from what pipelines/pets.yaml "
        "compiles to"
        in w
        and "pedigree compile --target argo" in w
        for w in done.warnings
    ), done.warnings


@pytest.mark.asyncio
async def test_submit_with_revision_repo_and_namespace(argo: MockArgo, tmp_path: Path) -> None:
    root = committed_project(tmp_path / "proj", origin=None)
    reaction = (
        argo.server["post /apis/argoproj.io/v1alpha1/namespaces/ml/workflows"]
        << 201
        << {"metadata": {"name": "pets-zz"}}
    )
    done = await in_thread(
        cluster_api.submit, root, namespace="ml", revision="v1.2", repo="https://g/p.git"
    )
    assert (done.run, done.namespace, done.warnings) == ("pets-zz", "ml", ())
    body = list(reaction)[0].data
    assert body["metadata"]["namespace"] == "ml"
    assert body["spec"]["arguments"]["parameters"] == [
        {"name": "repo", "value": "https://g/p.git"},
        {"name": "revision", "value": "v1.2"},
    ]


@pytest.mark.asyncio
async def test_submit_leaves_repo_to_the_templates_default(argo: MockArgo, tmp_path: Path) -> None:
    spec = VALID_SPEC.replace("  name: pets\n", "  name: pets\n  repository: https://g/pets.git\n")
    root = committed_project(tmp_path / "proj", spec=spec)
    posted = argo.accept_submit()
    done = await in_thread(cluster_api.submit, root)
    assert "repo" not in done.parameters and done.warnings == ()
    assert [p["name"] for p in posted[0].data["spec"]["arguments"]["parameters"]] == ["revision"]


def test_submit_needs_a_commit(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    api.compile_argo(root)
    git(root, "init", "-q")
    with pytest.raises(ProjectError, match=r"no git commit to run in .*checks the project out"):
        cluster_api.submit(root)


def test_submit_needs_the_compiled_workflow(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    with pytest.raises(ProjectError, match=r"no compiled Workflow at cluster-conf/workflows/pets"):
        cluster_api.submit(root)


@pytest.mark.asyncio
async def test_run_status(argo: MockArgo) -> None:
    argo.serve_run(workflow("Running", [node("ingest", "Running", end=None)]))
    status = await in_thread(cluster_api.run_status, RUN)
    assert (status.name, status.phase, status.revision) == (RUN, "Running", "0123456789abcdef")
    assert [s.phase for s in status.stages] == ["Running", "Pending", "Pending"]


def test_run_status_refuses_a_bad_run_name() -> None:
    with pytest.raises(Exception, match=r"'../x' is not a run name"):
        cluster_api.run_status("../x")


@pytest.mark.asyncio
async def test_watch_reports_changes_until_the_run_ends(argo: MockArgo) -> None:
    argo.serve_run(
        workflow("Pending"),
        workflow("Running", [node("ingest", "Running", end=None)]),
        workflow("Succeeded", [node(s, "Succeeded") for s in ("ingest", "transform", "train")]),
    )
    seen: list[tuple[str | None, str]] = []
    sleeps: list[float] = []
    status = await in_thread(
        cluster_api.watch,
        RUN,
        lambda c: seen.append((c.stage, c.phase)),
        interval=0.5,
        sleep=sleeps.append,
    )
    assert status.succeeded and sleeps == [0.5, 0.5]
    assert seen == [
        (None, "Pending"),
        ("ingest", "Running"),
        (None, "Running"),
        ("ingest", "Succeeded"),
        ("transform", "Succeeded"),
        ("train", "Succeeded"),
        (None, "Succeeded"),
    ]


def _failed_run() -> dict[str, Any]:
    attempts = [node("transform", "Failed", message=f"exit {i}", attempt=i) for i in range(2)]
    return workflow(
        "Failed", [node("ingest", "Succeeded"), *retried("transform", "Failed", attempts)]
    )


@pytest.mark.asyncio
async def test_logs_of_every_stage_in_dag_order(argo: MockArgo) -> None:
    argo.serve_run(_failed_run())
    pods = [
        pod("pets-x7k2q-transform-2", f"{RUN}.transform(1)", phase="Failed"),
        pod("pets-x7k2q-transform-1", f"{RUN}.transform(0)", phase="Failed"),
    ]
    argo.serve_pods(pods, {"pets-x7k2q-transform-1": "first\n", "pets-x7k2q-transform-2": "2nd\n"})
    found = await in_thread(cluster_api.logs, RUN)
    assert [(f.stage, f.attempt, f.attempts, f.text) for f in found] == [
        ("ingest", 0, 0, None),
        ("transform", 0, 2, "first\n"),
        ("transform", 1, 2, "2nd\n"),
        ("train", 0, 0, None),
    ]
    assert "deleted after the pod GC delay" in (found[0].note or "")
    assert "has not run (phase Omitted)" in (found[3].note or "")


@pytest.mark.asyncio
async def test_logs_of_one_stage_with_tail(argo: MockArgo) -> None:
    argo.serve_run(_failed_run())
    argo.serve_pods([pod("p-ingest", f"{RUN}.ingest")], {})
    served = argo.serve_log("p-ingest", "line 9\nline 10\n")
    found = await in_thread(cluster_api.logs, RUN, "ingest", tail=2)
    assert [f.text for f in found] == ["line 9\nline 10\n"]
    assert served[0].params["tailLines"] == "2"


@pytest.mark.asyncio
async def test_logs_of_an_unknown_stage_lists_the_runs_stages(argo: MockArgo) -> None:
    argo.serve_run(_failed_run())
    argo.serve_pods([], {})
    with pytest.raises(
        RunNotFoundError, match=r"has no stage 'trian' \(stages: ingest, transform, train\)"
    ):
        await in_thread(cluster_api.logs, RUN, "trian")


@pytest.mark.asyncio
async def test_logs_of_a_stage_whose_pod_was_collected(argo: MockArgo) -> None:
    argo.serve_run(_failed_run())
    argo.serve_pods([pod("p-gone", f"{RUN}.ingest")], {})  # listed, then gone before reading
    with pytest.raises(PodGoneError, match=r"the pod of stage 'ingest' of run .* was deleted"):
        await in_thread(cluster_api.logs, RUN, "ingest")


@pytest.mark.asyncio
async def test_logs_of_a_stage_without_a_pod(argo: MockArgo) -> None:
    argo.serve_run(_failed_run())
    argo.serve_pods([], {})
    with pytest.raises(PodGoneError, match=r"pod of stage 'ingest' was deleted after the pod GC"):
        await in_thread(cluster_api.logs, RUN, "ingest")
    with pytest.raises(RunNotFoundError, match=r"stage 'train' has not run \(phase Omitted\)"):
        await in_thread(cluster_api.logs, RUN, "train")


def _pets_committed(root: Path) -> Path:
    """The pets pipeline (it declares folds), its Argo files compiled, committed on main."""
    pets_copy(root)
    (root / "registry" / "pets" / "README.md").write_text("registry\n")
    api.compile_argo(root)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "pipeline")
    git(root, "remote", "add", "origin", ORIGIN)
    git(root, "update-ref", "refs/remotes/origin/main", "HEAD")
    return root


@pytest.mark.asyncio
async def test_submit_folds_posts_the_replicate_workflow(argo: MockArgo, tmp_path: Path) -> None:
    root = _pets_committed(tmp_path / "pets")
    head = git(root, "rev-parse", "HEAD")
    posted = argo.accept_submit("pets-replicate-ab12c")
    done = await in_thread(cluster_api.submit, root, folds="3", seeds=" 2, 1")
    assert done.run == "pets-replicate-ab12c" and done.warnings == ()
    assert done.workflow_file == "cluster-conf/workflows/pets-replicate.yaml"
    body = posted[0].data
    assert body["spec"]["workflowTemplateRef"] == {"name": "pedigree-pets-replicate"}
    assert body["spec"]["arguments"]["parameters"] == [
        {"name": "repo", "value": ORIGIN},
        {"name": "revision", "value": head},
        {"name": "folds", "value": "3"},
        {"name": "seeds", "value": "2,1"},
    ]


@pytest.mark.parametrize(
    ("folds", "seeds", "message"),
    [
        ("1", None, "--folds"),
        ("x", None, "--folds"),
        ("3", "1,1", "seed 1 is given twice"),
        (None, "1,2", "--seeds goes with --folds"),
    ],
)
def test_submit_folds_checks_its_arguments_before_connecting(
    tmp_path: Path, folds: str | None, seeds: str | None, message: str
) -> None:
    root = _pets_committed(tmp_path / "pets")
    with pytest.raises(PedigreeError, match=message):
        cluster_api.submit(root, folds=folds, seeds=seeds)


def test_submit_folds_needs_a_spec_with_folds(tmp_path: Path) -> None:
    root = committed_project(tmp_path / "proj")
    with pytest.raises(PedigreeError, match=r"declares no spec\.replicate\.folds"):
        cluster_api.submit(root, folds=3)
