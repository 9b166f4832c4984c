"""`pedigree submit`, `pedigree status RUN` and `pedigree logs`: output, --json, exit codes and
one-line errors, against kmock's mock Kubernetes API over real HTTP."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from pedigree.api import cluster as cluster_api
from pedigree.cli.main import main
from tests.unit.cluster.kube_mock import (
    RUN,
    WORKFLOWS,
    MockArgo,
    committed_project,
    in_thread,
    node,
    pod,
    retried,
    status_body,
    workflow,
    write_kubeconfig,
)

Capture = pytest.CaptureFixture[str]
DONE = [node(s, "Succeeded") for s in ("ingest", "transform", "train")]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return committed_project(tmp_path / "proj")


def _failed() -> dict[str, object]:
    attempts = [node("transform", "Failed", message="exit code 1", attempt=i) for i in range(3)]
    return workflow(
        "Failed",
        [node("ingest", "Succeeded"), *retried("transform", "Failed", attempts)],
        message="child failed",
    )


@pytest.mark.parametrize("command", ["submit", "logs", "status"])
def test_help_has_examples(command: str, capsys: Capture) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Example" in out and f"pedigree {command}" in out


@pytest.mark.asyncio
async def test_submit_prints_the_run_and_what_to_do_next(
    argo: MockArgo, project: Path, capsys: Capture
) -> None:
    argo.accept_submit()
    assert await in_thread(main, ["-C", str(project), "submit"]) == 0
    out = capsys.readouterr().out
    assert f"submitted {RUN} (namespace pedigree, context mock)" in out
    assert "  revision  " in out and "  repo      https://git.example/team/pets.git" in out
    assert f"pedigree status {RUN}\n" in out and f"pedigree pull {RUN}" in out


@pytest.mark.asyncio
async def test_submit_json(argo: MockArgo, project: Path, capsys: Capture) -> None:
    argo.accept_submit()
    assert await in_thread(main, ["-C", str(project), "submit", "--json", "-n", "pedigree"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["run"], data["workflow_file"]) == (RUN, "cluster-conf/workflows/pets.yaml")
    assert set(data["parameters"]) == {"repo", "revision"}


@pytest.mark.asyncio
async def test_submit_watch_until_succeeded(argo: MockArgo, project: Path, capsys: Capture) -> None:
    argo.accept_submit()
    argo.serve_run(
        workflow("Running", [node("ingest", "Running", end=None)]), workflow("Succeeded", DONE)
    )
    args = ["-C", str(project), "submit", "--watch", "--interval", "0.01"]
    assert await in_thread(main, args) == 0
    out = capsys.readouterr().out
    assert "  ingest       Running\n" in out and "  train        Succeeded\n" in out
    assert f"run {RUN}: Succeeded" in out
    assert f"done: run {RUN} succeeded in 3m12s" in out and f"pedigree pull {RUN}" in out


@pytest.mark.asyncio
async def test_submit_watch_until_failed_exits_1(
    argo: MockArgo, project: Path, capsys: Capture
) -> None:
    argo.accept_submit()
    argo.serve_run(_failed())
    assert await in_thread(main, ["-C", str(project), "submit", "-w", "--interval", "0"]) == 1
    captured = capsys.readouterr()
    assert "  transform    Failed (retry 2, exit code 1)" in captured.out
    assert f"error: run {RUN} failed: stage 'transform' Failed: exit code 1" in captured.err
    assert f"hint: pedigree logs {RUN} transform" in captured.err


@pytest.mark.asyncio
async def test_submit_watch_json_failed(argo: MockArgo, project: Path, capsys: Capture) -> None:
    argo.accept_submit()
    argo.serve_run(_failed())
    args = ["-C", str(project), "submit", "--watch", "--interval", "0", "--json"]
    assert await in_thread(main, args) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["status"]["phase"] == "Failed"
    assert [s["phase"] for s in data["status"]["stages"]] == ["Succeeded", "Failed", "Omitted"]


@pytest.mark.asyncio
async def test_ctrl_c_stops_watching_only(
    argo: MockArgo, project: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cluster_api, "watch", interrupted)
    argo.accept_submit()
    assert await in_thread(main, ["-C", str(project), "submit", "--watch"]) == 130
    err = capsys.readouterr().err
    assert f"stopped watching; run {RUN} goes on in the cluster: pedigree status {RUN}" in err


@pytest.mark.asyncio
async def test_status_of_a_run(argo: MockArgo, capsys: Capture) -> None:
    argo.serve_run(_failed())
    assert await in_thread(main, ["status", RUN]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"run {RUN} (namespace pedigree): Failed"
    assert "repo https://git.example/pets.git  revision 0123456789abcdef" in lines[2]
    assert lines[3] == "  message: child failed"
    assert lines[4].split() == [
        "STAGE", "PHASE", "STARTED", "FINISHED", "DURATION", "RETRIES", "MESSAGE"
    ]  # fmt: skip
    assert lines[6].split() == [
        "transform", "Failed", "2025-01-01T10:00:00Z", "2025-01-01T10:00:05Z", "5.0s", "2",
        "exit", "code", "1",
    ]  # fmt: skip
    assert lines[7].split() == ["train", "Omitted", "-", "-", "-", "0"]


@pytest.mark.asyncio
async def test_status_of_a_run_json(argo: MockArgo, capsys: Capture) -> None:
    argo.serve_run(_failed())
    assert await in_thread(main, ["status", RUN, "--json", "--namespace", "pedigree"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["name"], data["phase"], data["parameters"]["revision"]) == (
        RUN,
        "Failed",
        "0123456789abcdef",
    )
    assert data["stages"][1] == {
        "name": "transform",
        "phase": "Failed",
        "started_at": "2025-01-01T10:00:00Z",
        "finished_at": "2025-01-01T10:00:05Z",
        "duration_s": 5.0,
        "message": "exit code 1",
        "retries": 2,
    }


def test_status_flags_need_a_run(capsys: Capture) -> None:
    assert main(["status", "--context", "kind"]) == 2
    assert "--namespace and --context apply to a cluster run" in capsys.readouterr().err


@pytest.mark.asyncio
async def test_logs_of_every_stage_with_headings(argo: MockArgo, capsys: Capture) -> None:
    argo.serve_run(workflow("Succeeded", DONE))
    pods = [pod(f"p-{s}", f"{RUN}.{s}") for s in ("train", "ingest")]
    argo.serve_pods(pods, {"p-ingest": "ingested 600\n", "p-train": "epoch 1\nepoch 2"})
    assert await in_thread(main, ["logs", RUN]) == 0
    assert capsys.readouterr().out == (
        "==> ingest [pod p-ingest] <==\ningested 600\n"
        "==> transform <==\n"
        "(no log: the pod of stage 'transform' was deleted after the pod GC delay, "
        "and its log with it)\n"
        "==> train [pod p-train] <==\nepoch 1\nepoch 2\n"
    )


@pytest.mark.asyncio
async def test_logs_of_one_stage_is_the_plain_log(argo: MockArgo, capsys: Capture) -> None:
    argo.serve_run(workflow("Succeeded", DONE))
    argo.serve_pods([pod("p-ingest", f"{RUN}.ingest")], {"p-ingest": "ingested 600\n"})
    assert await in_thread(main, ["logs", RUN, "ingest", "--tail", "10"]) == 0
    assert capsys.readouterr().out == "ingested 600\n"


@pytest.mark.asyncio
async def test_logs_json(argo: MockArgo, capsys: Capture) -> None:
    argo.serve_run(workflow("Succeeded", DONE))
    argo.serve_pods([pod("p-ingest", f"{RUN}.ingest")], {"p-ingest": "x\n"})
    assert await in_thread(main, ["logs", RUN, "ingest", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {
            "stage": "ingest",
            "attempt": 0,
            "attempts": 1,
            "pod": "p-ingest",
            "text": "x\n",
            "note": None,
        }
    ]


@pytest.mark.asyncio
async def test_logs_of_an_unknown_stage(argo: MockArgo, capsys: Capture) -> None:
    argo.serve_run(workflow("Succeeded", DONE))
    argo.serve_pods([], {})
    assert await in_thread(main, ["logs", RUN, "evaluate"]) == 2
    err = capsys.readouterr().err
    assert f"error: run '{RUN}' has no stage 'evaluate' (stages: ingest, transform, train)" in err


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("code", "reason", "exit_code", "said"),
    [
        (401, "Unauthorized", 4, "rejected the credentials (401 Unauthorized)"),
        (403, "Forbidden", 4, "forbidden: you may not get workflows 'pets-x7k2q' in namespace"),
        (404, "NotFound", 2, "error: no run 'pets-x7k2q' in namespace 'pedigree'"),
    ],
)
async def test_status_api_errors(
    argo: MockArgo, capsys: Capture, code: int, reason: str, exit_code: int, said: str
) -> None:
    argo.fail(f"get {WORKFLOWS}/{RUN}", code, status_body(code, reason, "denied", kind="workflows"))
    assert await in_thread(main, ["status", RUN]) == exit_code
    captured = capsys.readouterr()
    assert said in captured.err and "hint: " in captured.err and "Traceback" not in captured.err


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("code", "reason", "said"),
    [
        (409, "AlreadyExists", "already exists in namespace 'pedigree'"),
        (422, "Invalid", "invalid: Workflow is invalid (causes: spec: Required value)"),
    ],
)
async def test_submit_api_errors(
    argo: MockArgo, project: Path, capsys: Capture, code: int, reason: str, said: str
) -> None:
    cause = {"field": "spec", "message": "Required value"}
    argo.fail(
        f"post {WORKFLOWS}", code, status_body(code, reason, "Workflow is invalid", causes=(cause,))
    )
    assert await in_thread(main, ["-C", str(project), "submit", "--json"]) == 2
    captured = capsys.readouterr()
    assert said in captured.err
    assert json.loads(captured.out)["exit_code"] == 2


def test_unreachable_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = write_kubeconfig(tmp_path / "config", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("KUBECONFIG", str(config))
    assert main(["logs", RUN]) == 4
    err = capsys.readouterr().err
    assert f"error: cannot reach the Kubernetes API server at http://127.0.0.1:{port}" in err
    assert "connection refused" in err and "hint: check that the cluster is up" in err
