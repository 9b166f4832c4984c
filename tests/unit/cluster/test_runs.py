"""Runs: Argo Workflow objects read as a status per stage, changes seen while watching, pods mapped
to stages, and the arguments a submit adds (pure functions, no server)."""

from __future__ import annotations

import pytest

from pedigree.cluster.runs import (
    Change,
    changes,
    dag_order,
    parse_run,
    stage_of,
    with_arguments,
)
from tests.unit.cluster.kube_mock import NAMESPACE, RUN, node, retried, workflow


def test_a_finished_run_has_a_row_per_stage_in_dag_order() -> None:
    attempts = [
        node("transform", "Failed", end="2025-01-01T10:00:07Z", message="exit code 1", attempt=0),
        node(
            "transform",
            "Succeeded",
            start="2025-01-01T10:00:09Z",
            end="2025-01-01T10:01:00Z",
            attempt=1,
        ),
    ]
    obj = workflow(
        "Succeeded",
        [
            node("train", "Succeeded", start="2025-01-01T10:01:00Z", end="2025-01-01T10:03:10Z"),
            *retried("transform", "Succeeded", attempts),
            node("ingest", "Succeeded"),
            node(f"{RUN}.onExit", "Succeeded"),  # an exit handler is not a stage
        ],
    )
    status = parse_run(obj, NAMESPACE)
    assert [s.name for s in status.stages] == ["ingest", "transform", "train"]
    ingest, transform, train = status.stages
    assert (ingest.phase, ingest.duration_s, ingest.retries) == ("Succeeded", 5.0, 0)
    assert (transform.phase, transform.retries, transform.duration_s) == ("Succeeded", 1, 60.0)
    assert transform.message == ""  # the failed attempt's message does not outlive the success
    assert train.duration_s == 130.0
    assert (status.phase, status.succeeded, status.duration_s) == ("Succeeded", True, 192.0)


def test_parameters_are_the_template_defaults_overridden_by_the_submitted_ones() -> None:
    status = parse_run(workflow("Running", revision="abc123"), NAMESPACE)
    assert status.parameters == {"repo": "https://git.example/pets.git", "revision": "abc123"}
    assert status.revision == "abc123"


def test_stages_not_started_are_pending_while_running_and_omitted_once_done() -> None:
    running = parse_run(workflow("Running", [node("ingest", "Running", end=None)]), NAMESPACE)
    assert [(s.name, s.phase) for s in running.stages] == [
        ("ingest", "Running"),
        ("transform", "Pending"),
        ("train", "Pending"),
    ]
    failed = parse_run(
        workflow("Failed", [node("ingest", "Failed", message="OOMKilled")]), NAMESPACE
    )
    assert [s.phase for s in failed.stages] == ["Failed", "Omitted", "Omitted"]
    assert failed.first_failed() is not None and failed.first_failed().message == "OOMKilled"


def test_a_retried_failure_keeps_the_last_attempts_message() -> None:
    attempts = [node("ingest", "Failed", message=f"try {i}", attempt=i) for i in range(3)]
    status = parse_run(workflow("Failed", retried("ingest", "Failed", attempts)), NAMESPACE)
    assert (status.stages[0].retries, status.stages[0].message) == (2, "try 2")


def test_a_workflow_the_controller_has_not_seen_yet() -> None:
    obj = {"metadata": {"name": RUN}, "spec": {"workflowTemplateRef": {"name": "pedigree-pets"}}}
    status = parse_run(obj, NAMESPACE)
    assert (status.phase, status.stages, status.namespace) == ("Pending", (), NAMESPACE)
    assert dag_order(obj) == []


def test_changes_reports_each_phase_change_once_stages_first() -> None:
    seen: dict[str | None, str] = {}
    first = parse_run(workflow("Running", [node("ingest", "Running", end=None)]), NAMESPACE)
    assert changes(seen, first) == [Change("ingest", "Running"), Change(None, "Running")]
    assert changes(seen, first) == []
    done = parse_run(workflow("Failed", [node("ingest", "Failed", message="boom")]), NAMESPACE)
    assert changes(seen, done) == [
        Change("ingest", "Failed", "boom"),
        Change("transform", "Omitted"),
        Change("train", "Omitted"),
        Change(None, "Failed"),
    ]


@pytest.mark.parametrize(
    ("node_name", "expected"),
    [
        (f"{RUN}.train", ("train", 0)),
        (f"{RUN}.train(2)", ("train", 2)),
        (f"{RUN}.pipeline.train(1)", ("train", 1)),
        ("pets-other.train", None),
        (f"{RUN}.train(x)", None),
    ],
)
def test_stage_of_a_node_name(node_name: str, expected: tuple[str, int] | None) -> None:
    assert stage_of(node_name, RUN) == expected


def test_with_arguments_adds_or_replaces_without_touching_the_original() -> None:
    original = {"spec": {"arguments": {"parameters": [{"name": "revision", "value": "main"}]}}}
    body = with_arguments(original, {"repo": "https://g/x.git", "revision": "abc"})
    assert body["spec"]["arguments"]["parameters"] == [
        {"name": "revision", "value": "abc"},
        {"name": "repo", "value": "https://g/x.git"},
    ]
    assert original["spec"]["arguments"]["parameters"] == [{"name": "revision", "value": "main"}]
    assert with_arguments({"kind": "Workflow"}, {}) == {"kind": "Workflow"}
