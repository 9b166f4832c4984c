"""OpenLineage run events: valid against the spec, written to the file, POSTed when configured."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pedigree.lineage import events
from pedigree.lineage.facets import PRODUCER, schema_file
from pedigree.lineage.record import LineageRecord
from pedigree.lineage.store import EVENTS_FILE
from tests.unit.lineage.conftest import COMMIT, RUN_IDS, records
from tests.unit.lineage.olschema import require_spec, validate_event

REPO = "https://github.com/acme/pets.git"


def train(status: str = "succeeded") -> LineageRecord:
    record = records()["train"]
    if status == "running":
        return record.model_copy(
            update={"status": "running", "outputs": [], "ended": record.started}
        )
    if status == "failed":
        return record.model_copy(update={"status": "failed", "exit_code": 3, "outputs": []})
    return record


@pytest.fixture(autouse=True)
def no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """No OpenLineage configuration leaks in from the machine running the tests."""
    for name in (
        events.URL_ENV,
        events.ENDPOINT_ENV,
        events.API_KEY_ENV,
        events.DISABLED_ENV,
        events.NAMESPACE_ENV,
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("status", "event_type"), [("running", "START"), ("succeeded", "COMPLETE"), ("failed", "FAIL")]
)
def test_events_validate_against_the_openlineage_spec(status: str, event_type: str) -> None:
    require_spec()
    event = events.run_event(train(status), event_type, repo_url=REPO)

    assert validate_event(event) == []


def test_the_validator_rejects_a_broken_event() -> None:
    require_spec()
    event = events.run_event(train(), "COMPLETE", repo_url=REPO)
    event["run"]["runId"] = "not-a-uuid"
    event["job"]["facets"]["sourceCodeLocation"].pop("url")
    event["run"]["facets"]["pedigree_environment"]["cpuCount"] = "two"
    event["outputs"][0]["facets"]["version"].pop("datasetVersion")

    assert sorted(validate_event(event)) == [
        "event: 'not-a-uuid' is not a 'uuid'",
        "job.sourceCodeLocation: 'url' is a required property",
        "outputs[0].facets.version: 'datasetVersion' is a required property",
        "run.pedigree_environment: 'two' is not of type 'integer'",
    ]


def test_complete_event_content() -> None:
    event = events.run_event(train(), "COMPLETE", repo_url=REPO)

    assert event["eventType"] == "COMPLETE"
    assert event["eventTime"] == "2024-05-01T10:02:30.000Z"
    assert event["producer"] == PRODUCER
    assert event["run"]["runId"] == RUN_IDS["train"]
    assert event["job"]["namespace"] == "pedigree"
    assert event["job"]["name"] == "pets.train"
    location = event["job"]["facets"]["sourceCodeLocation"]
    assert location["type"] == "git"
    assert location["url"] == f"https://github.com/acme/pets/tree/{COMMIT}/stages/train"
    assert (location["repoUrl"], location["path"], location["version"]) == (
        REPO,
        "stages/train",
        COMMIT,
    )
    assert [
        (d["namespace"], d["name"], d["facets"]["version"]["datasetVersion"])
        for d in event["inputs"]
    ] == [("pedigree", a.path, a.md5) for a in train().data_inputs]
    (output,) = event["outputs"]
    assert output["name"] == "models/model.keras"
    assert output["facets"]["version"]["datasetVersion"] == "b" * 32
    assert output["outputFacets"]["outputStatistics"]["size"] == 4000
    run_facets = event["run"]["facets"]
    assert "errorMessage" not in run_facets
    environment = run_facets["pedigree_environment"]
    assert environment["lock"] == {"path": "images/train/requirements.lock", "sha256": "5" * 64}
    assert environment["packages"] == {"numpy": "1.26.4", "tensorflow-cpu": "2.16.1"}
    assert environment["threads"] == {"intra_op_threads": 2}  # unset variables are left out
    assert environment["_producer"] == PRODUCER
    code = run_facets["pedigree_code"]
    assert (code["gitCommit"], code["gitDirty"], code["exitCode"]) == (COMMIT, True, 0)
    assert code["folders"] == {"stages/train": "7" * 32 + ".dir"}
    parameters = {p["key"]: p["value"] for p in run_facets["executionParameters"]["parameters"]}
    assert parameters == {"determinism.seed": "1234", "train.epochs": "2"}


def test_start_has_no_outputs_and_fail_has_an_error_message() -> None:
    start = events.run_event(train("running"), "START", repo_url=REPO)
    fail = events.run_event(train("failed"), "FAIL", repo_url=REPO)

    assert start["eventTime"] == "2024-05-01T10:02:00.000Z"
    assert start["outputs"] == []
    assert "exitCode" not in start["run"]["facets"]["pedigree_code"]
    assert fail["run"]["facets"]["errorMessage"]["message"] == "stage 'train' failed (exit code 3)"
    assert fail["run"]["facets"]["errorMessage"]["programmingLanguage"] == "python"


def test_custom_facets_point_at_schemas_shipped_in_the_package() -> None:
    facets = events.run_event(train(), "COMPLETE")["run"]["facets"]
    for key in ("pedigree_environment", "pedigree_code"):
        path = schema_file(facets[key]["_schemaURL"])
        assert path is not None and path.is_file()
        assert key in json.loads(path.read_text(encoding="utf-8"))["properties"]


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown OpenLineage event type 'DONE'"):
        events.run_event(train(), "DONE")


def test_job_name_and_namespace_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    assert events.job_name(train().model_copy(update={"pipeline": None})) == "train"
    monkeypatch.setenv(events.NAMESPACE_ENV, "team-a")
    assert events.namespace() == "team-a"
    event = events.run_event(train(), "COMPLETE", space=events.namespace())
    assert {event["job"]["namespace"], *(d["namespace"] for d in event["inputs"])} == {"team-a"}


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("https://user:s3cret@github.com/acme/pets.git", "https://github.com/acme/pets.git"),
        ("git@github.com:acme/pets.git", "ssh://github.com/acme/pets.git"),
        ("ssh://git@host/acme/pets.git", "ssh://host/acme/pets.git"),
    ],
)
def test_repository_url_drops_credentials(tmp_path: Path, remote: str, expected: str) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin", remote], check=True)
    assert events.repository_url(tmp_path) == expected


def test_repository_url_without_a_remote_is_the_folder(tmp_path: Path) -> None:
    assert events.repository_url(tmp_path) == tmp_path.resolve().as_uri()


def read_events(root: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (root / EVENTS_FILE).read_text().splitlines()]


def test_emit_appends_one_json_event_per_line(tmp_path: Path) -> None:
    events.emit(tmp_path, train("running"), "START")
    events.emit(tmp_path, train(), "COMPLETE")

    written = read_events(tmp_path)
    repo = tmp_path.resolve().as_uri()
    assert written == [
        events.run_event(train("running"), "START", repo_url=repo),
        events.run_event(train(), "COMPLETE", repo_url=repo),
    ]


class Recorder(BaseHTTPRequestHandler):
    """Keeps every POST (path, headers, JSON body); answers with the server's status."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append((self.path, dict(self.headers), json.loads(body)))  # type: ignore[attr-defined]
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    httpd.posts = []  # type: ignore[attr-defined]
    httpd.status = 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_emit_posts_to_the_configured_endpoint(
    tmp_path: Path,
    server: ThreadingHTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(events.URL_ENV, f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv(events.API_KEY_ENV, "k3y")

    events.emit(tmp_path, train("running"), "START")
    events.emit(tmp_path, train(), "COMPLETE")

    posts = server.posts  # type: ignore[attr-defined]
    assert [path for path, _, _ in posts] == ["/api/v1/lineage", "/api/v1/lineage"]
    assert all(headers["Authorization"] == "Bearer k3y" for _, headers, _ in posts)
    assert [body for _, _, body in posts] == read_events(tmp_path)
    assert [body["eventType"] for _, _, body in posts] == ["START", "COMPLETE"]
    assert capsys.readouterr().err == ""


def test_emit_uses_the_configured_endpoint_path(
    tmp_path: Path, server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(events.URL_ENV, f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv(events.ENDPOINT_ENV, "lineage/events")

    events.emit(tmp_path, train(), "COMPLETE")

    assert [path for path, _, _ in server.posts] == ["/lineage/events"]  # type: ignore[attr-defined]


def test_disabled_openlineage_sends_nothing_but_keeps_the_file(
    tmp_path: Path, server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(events.URL_ENV, f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv(events.DISABLED_ENV, "true")

    events.emit(tmp_path, train(), "COMPLETE")

    assert server.posts == []  # type: ignore[attr-defined]
    assert len(read_events(tmp_path)) == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_endpoint_only_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv(events.URL_ENV, url)

    events.emit(tmp_path, train(), "COMPLETE")

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(
        f"pedigree: warning: OpenLineage endpoint {url} did not take the COMPLETE event of stage 'train' ("
    )
    assert err.endswith(f"); it is kept in {EVENTS_FILE}\n")
    assert [e["eventType"] for e in read_events(tmp_path)] == ["COMPLETE"]


def test_an_endpoint_answering_an_error_only_warns(
    tmp_path: Path,
    server: ThreadingHTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.status = 400  # type: ignore[attr-defined]
    monkeypatch.setenv(events.URL_ENV, f"http://127.0.0.1:{server.server_port}")

    events.emit(tmp_path, train(), "COMPLETE")

    err = capsys.readouterr().err
    assert "did not take the COMPLETE event of stage 'train' (400 Client Error" in err
    assert len(read_events(tmp_path)) == 1


def test_a_malformed_url_only_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(events.URL_ENV, "not a url")

    events.emit(tmp_path, train(), "COMPLETE")

    assert (
        "pedigree: warning: OpenLineage endpoint not a url did not take" in capsys.readouterr().err
    )
    assert len(read_events(tmp_path)) == 1
