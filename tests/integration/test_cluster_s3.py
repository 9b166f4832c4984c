"""Cluster steps and `pedigree pull` over a real S3 server (tests/support/s3server.py: moto's
server on 127.0.0.1, with checked credentials), configured from the environment exactly as the
compiled WorkflowTemplate configures a pod: PEDIGREE_REMOTE=s3://..., AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.

Each "pod" is a fresh git clone running `python -m pedigree.cluster.step --stage NAME`. Both
stages are deterministic, so in another clone `pedigree pull RUN` restores them (no stage runs
there) and `pedigree verify --all` proves them. A wrong secret, a missing bucket and an endpoint
that does not answer each stop the step and pull with exit 4 and a message saying which, before
anything is run, pushed or written.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import (
    BIN,
    git_clone,
    init_repos,
    project_env,
    run_and_commit,
    sh,
    write_small_project,
)
from tests.support.s3server import S3Server

pytestmark = pytest.mark.integration
RUN = "tally-s3x7k"

SPEC = """\
apiVersion: pedigree/v1
kind: Pipeline
metadata:
  name: tally
spec:
  inputs: [data/words.txt]
  stages:
    - name: upper
      cmd: [python, -m, stages.upper]
      deps: [data/words.txt]
      outs: [data/upper.txt]
    - name: count
      cmd: [python, -m, stages.count]
      deps: [data/upper.txt]
      outs: [data/count]
"""
UPPER = """\
import pathlib
text = pathlib.Path("data/words.txt").read_text()
pathlib.Path("data/upper.txt").write_text(text.upper())
"""
COUNT = """\
import json, pathlib
words = pathlib.Path("data/upper.txt").read_text().split()
out = pathlib.Path("data/count"); out.mkdir(exist_ok=True)
(out / "count.json").write_text(json.dumps({w: words.count(w) for w in sorted(set(words))}))
"""


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = S3Server.start()
    yield server
    server.stop()


def _run(root: Path, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = project_env()
    for name in ("POD_NAME", "POD_NAMESPACE", "PEDIGREE_IMAGE", "PEDIGREE_IMAGE_DIGEST"):
        full.pop(name, None)
    full.update(env)
    return subprocess.run(argv, cwd=root, env=full, capture_output=True, text=True, timeout=300)


def _step(pod: Path, stage: str, remote: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """A pod's step: the remote and the S3 settings from the environment, nothing else."""
    return _run(
        pod,
        [sys.executable, "-m", "pedigree.cluster.step", "--stage", stage],
        {"PEDIGREE_REMOTE": remote, "PEDIGREE_WORKFLOW": RUN, **env},
    )


def _pull(home: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _run(home, [str(BIN / "pedigree"), "pull", RUN, "--offline", "--json"], env)


def _home(origin: Path, target: Path, remote: str) -> Path:
    """A user's clone with the cluster's remote as its default (the URL only: the endpoint and
    credentials come from the environment, as in a pod)."""
    home = git_clone(origin, target)
    sh(home, str(BIN / "dvc"), "remote", "add", "--local", "-d", "cluster", remote)
    return home


def _files(root: Path) -> dict[str, bytes]:
    """Every file of a checkout by content, but .git and DVC's own scratch (.dvc/tmp)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and p.relative_to(root).parts[0] != ".git"
        and p.relative_to(root).parts[:2] != (".dvc", "tmp")
    }


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def cluster_run(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tally project, and what its two steps pushed to s3://pedigree/tally."""
    base = tmp_path_factory.mktemp("s3")
    origin = write_small_project(
        base / "origin",
        SPEC,
        "",
        {"upper": {"__main__.py": UPPER}, "count": {"__main__.py": COUNT}},
        {"data/words.txt": "one two two\nthree three three\n"},
    )
    run_and_commit(init_repos(origin))
    pods = {}
    for stage in ("upper", "count"):
        pod = git_clone(origin, base / f"pod-{stage}")
        result = _step(pod, stage, f"s3://{s3.bucket}/tally", s3.env())
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"step {stage}: done" in result.stderr
        pods[stage] = pod
    return {"origin": origin, **pods}


def test_steps_push_outputs_run_cache_and_records_to_s3(
    s3: S3Server, cluster_run: dict[str, Path]
) -> None:
    keys = s3.keys("tally/")
    assert any(key.startswith("tally/files/md5/") for key in keys), keys
    assert any(key.startswith("tally/runs/") for key in keys), keys  # the run-cache
    records = [key for key in keys if key.startswith(f"tally/pedigree/lineage/{RUN}/")]
    assert {key.split("/")[4] for key in records} == {"upper", "count"}
    # the second pod restored upper from S3 instead of running it: its log is the clone's
    log = Path(".pedigree", "logs", "upper.log")
    assert (cluster_run["count"] / log).read_bytes() == (cluster_run["origin"] / log).read_bytes()


def test_pull_over_s3_restores_the_run_and_verify_passes(
    s3: S3Server, cluster_run: dict[str, Path], tmp_path: Path
) -> None:
    home = _home(cluster_run["origin"], tmp_path / "home", f"s3://{s3.bucket}/tally")
    logs = {p: b for p, b in _files(home).items() if p.startswith(".pedigree/logs/")}
    result = _pull(home, s3.env())
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert {s["stage"]: s["outcome"] for s in report["stages"]} == {
        "upper": "restored",
        "count": "restored",
    }
    assert report["records"] >= 2
    pod = cluster_run["count"]
    for out in ("data/upper.txt", "data/count/count.json"):
        assert (home / out).read_bytes() == (pod / out).read_bytes()
    assert (home / "dvc.lock").read_text() == (pod / "dvc.lock").read_text()
    # nothing ran here: no stage log was written
    assert {p: b for p, b in _files(home).items() if p.startswith(".pedigree/logs/")} == logs
    # the pods' lineage records came home (the project's own run made the same bytes, so either
    # record may be the current one)
    for stage in ("upper", "count"):
        pod_runs = cluster_run[stage] / ".pedigree" / "lineage" / "runs" / stage
        home_runs = home / ".pedigree" / "lineage" / "runs" / stage
        assert {p.name for p in pod_runs.iterdir()} <= {p.name for p in home_runs.iterdir()}
    verify = _run(home, [str(BIN / "pedigree"), "verify", "--all", "--json"], {})
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["ok"] is True


# (what is wrong, the remote URL, the environment, what the message says)
BAD = {
    "a wrong secret": (
        "s3://{bucket}/tally",
        lambda s3: s3.env(secret="not-the-secret-" + "x" * 25),
        "refused the credentials: The request signature we calculated does not match",
    ),
    "a missing bucket": (
        "s3://no-such-bucket/tally",
        lambda s3: s3.env(),
        "has no bucket or folder 'no-such-bucket': The specified bucket does not exist",
    ),
    "an endpoint that does not answer": (
        "s3://{bucket}/tally",
        lambda s3: s3.env(endpoint=f"http://127.0.0.1:{_closed_port()}"),
        "cannot reach the DVC remote (s3://pedigree/tally): EndpointConnectionError",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_step_stops_before_it_runs_when_s3_does_not_answer(
    s3: S3Server, cluster_run: dict[str, Path], tmp_path: Path, case: str
) -> None:
    url, env, message = BAD[case]
    pod = git_clone(cluster_run["origin"], tmp_path / "pod")
    before = _files(pod)
    keys = s3.keys("")
    result = _step(pod, "upper", url.format(bucket=s3.bucket), env(s3))
    assert result.returncode == 4, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert "hint: " in result.stderr
    assert s3.env()["AWS_SECRET_ACCESS_KEY"] not in result.stderr
    # nothing ran or was pushed; the checkout is as cloned but for DVC's local remote config
    after = _files(pod)
    assert set(after) - set(before) == {".dvc/config.local"}
    assert {path: after[path] for path in before} == before
    assert s3.keys("") == keys


@pytest.mark.parametrize("case", sorted(BAD))
def test_pull_stops_before_it_writes_when_s3_does_not_answer(
    s3: S3Server, cluster_run: dict[str, Path], tmp_path: Path, case: str
) -> None:
    url, env, message = BAD[case]
    home = _home(cluster_run["origin"], tmp_path / "home", url.format(bucket=s3.bucket))
    before = _files(home)
    result = _pull(home, env(s3))
    assert result.returncode == 4, result.stdout + result.stderr
    assert message in result.stdout + result.stderr, result.stdout + result.stderr
    assert s3.env()["AWS_SECRET_ACCESS_KEY"] not in result.stdout + result.stderr
    assert _files(home) == before
