"""Hostile credentials: canaries in the git remote URL, OPENLINEAGE_URL, the S3 keys, the DVC
remote's local config and the OpenLineage API key; every command that reads them runs for real
(git, dvc, the pedigree console script), and no canary appears anywhere pedigree writes.

The canaries are allowed in exactly two places, where the user put them: `.git/config` (the
origin URL) and `.dvc/config.local` (DVC's own place for remote credentials, never committed).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import kmock
import pytest

from tests.integration.conftest import BIN, project_env, write_small_project
from tests.support import fake_engine
from tests.unit.cluster.kube_mock import MockArgo, node, pod, workflow, write_kubeconfig

pytestmark = pytest.mark.integration

CANARY1 = "CANARY1-git-password"
CANARY2 = "CANARY2-lineage-password"
CANARY3 = "CANARY3-access-key"
CANARY4 = "CANARY4-secret-key"
CANARY5 = "CANARY5-api-key"
CANARY6 = "CANARY6-endpoint-password"
CANARIES = (CANARY1, CANARY2, CANARY3, CANARY4, CANARY5, CANARY6)
ORIGIN = f"https://user:{CANARY1}@example.invalid/r.git"
CLEAN_ORIGIN = "https://example.invalid/r.git"
# Where the user keeps the credentials: the only files allowed to hold them.
THEIR_FILES = {".git/config", ".dvc/config.local"}
HOSTILE_ENV = {
    "OPENLINEAGE_URL": f"http://u:{CANARY2}@127.0.0.1:9/",  # a closed port: posting fails fast
    "AWS_ACCESS_KEY_ID": CANARY3,
    "AWS_SECRET_ACCESS_KEY": CANARY4,
    "OPENLINEAGE_API_KEY": CANARY5,
    "AWS_MAX_ATTEMPTS": "1",  # botocore would retry the closed S3 endpoint for seconds
}

DVC_CONFIG = """\
[core]
    analytics = false
    remote = cluster
['remote "cluster"']
    url = s3://pedigree/dvc
"""
DVC_CONFIG_LOCAL = f"""\
['remote "cluster"']
    endpointurl = {{endpoint}}
    access_key_id = {CANARY3}
    secret_access_key = {CANARY4}
"""

SPEC = """\
apiVersion: pedigree/v1
kind: Pipeline
metadata:
  name: tiny
spec:
  inputs: [data/source.txt]
  stages:
    - name: upper
      cmd: [python, -m, stages.upper]
      deps: [data/source.txt]
      params: [upper]
      outs: [data/upper.txt]
"""
UPPER = """\
import pathlib, yaml
times = yaml.safe_load(pathlib.Path("params.yaml").read_text())["upper"]["times"]
text = pathlib.Path("data/source.txt").read_text()
pathlib.Path("data/upper.txt").write_text(text.upper() * times)
"""


def hostile(root: Path, *argv: str, extra: dict[str, str] | None = None) -> tuple[int, str]:
    """Run a command with the canaries in its environment; (exit code, stdout + stderr)."""
    env = {**project_env(), **HOSTILE_ENV, **(extra or {})}
    done = subprocess.run(
        list(argv), cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return done.returncode, done.stdout + done.stderr


def ok(root: Path, *argv: str, extra: dict[str, str] | None = None) -> str:
    code, output = hostile(root, *argv, extra=extra)
    assert code == 0, f"{argv} exited {code}:\n{output}"
    return output


def assert_clean(what: str, text: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"{canary} leaked into {what}: {text[:500]}"


def leaks(root: Path) -> list[str]:
    """Every file under `root` (outside git's object store) that holds a canary."""
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or rel.startswith(".git/") and rel != ".git/config":
            continue
        data = path.read_bytes()
        if any(c.encode() in data for c in CANARIES):
            found.append(rel)
    return found


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A one-stage project, run once with the canaries set, committed; origin and the DVC remote
    (S3 at a closed endpoint) configured with credentials where users put them."""
    root = write_small_project(
        tmp_path / "tiny",
        SPEC,
        "upper:\n  times: 2\n",
        {"upper": {"__main__.py": UPPER}},
        {"data/source.txt": "one\ntwo\n"},
    )
    ok(root, "git", "init", "-q", "-b", "main")
    ok(root, "git", "remote", "add", "origin", ORIGIN)
    ok(root, str(BIN / "dvc"), "init", "-q")
    # What `dvc remote add -d` and `dvc remote modify --local` write (without a dvc call each).
    with (root / ".dvc" / "config").open("a", encoding="utf-8") as config:
        config.write(DVC_CONFIG)
    (root / ".dvc" / "config.local").write_text(
        DVC_CONFIG_LOCAL.format(endpoint="http://127.0.0.1:9"), encoding="utf-8"
    )
    return root


def test_local_commands_write_and_print_no_credential(tiny: Path, tmp_path: Path) -> None:
    pedigree = str(BIN / "pedigree")
    outputs = {"run": ok(tiny, pedigree, "--verbose", "run")}
    # The closed endpoint was tried (and failed) for START and COMPLETE, without the password.
    assert outputs["run"].count("OpenLineage endpoint http://127.0.0.1:9/ did not take") == 2
    for fmt in ("tree", "json", "openlineage", "prov"):
        outputs[f"lineage {fmt}"] = ok(tiny, pedigree, "lineage", "data/upper.txt", "--format", fmt)
    outputs["compile argo"] = ok(tiny, pedigree, "compile", "--target", "argo")
    outputs["compile images"] = ok(tiny, pedigree, "compile", "--target", "images")
    ok(tiny, "git", "add", "-A")
    ok(tiny, "git", "commit", "-q", "-m", "ran")

    # The image build (a fake engine: no images are built) labels SOURCE without the password.
    (tiny / "images" / "base").mkdir()
    (tiny / "images" / "base" / "Dockerfile").write_text("FROM scratch\n")
    engine_bin = fake_engine.install(tmp_path / "engine-bin")
    engine_log = tmp_path / "engine.log"
    engine_env = {
        "PATH": f"{engine_bin}{os.pathsep}{project_env()['PATH']}",
        "FAKE_ENGINE_LOG": str(engine_log),
    }
    build = [sys.executable, "-m", "pedigree.containers.build", "--engine", "podman"]
    outputs["build"] = ok(tiny, *build, "--ca-bundle", "", extra=engine_env)
    assert f"SOURCE={CLEAN_ORIGIN}" in outputs["build"]
    outputs["engine argv"] = engine_log.read_text(encoding="utf-8")
    assert f"SOURCE={CLEAN_ORIGIN}" in outputs["engine argv"]

    # pull reads the DVC remote: unreachable, and said so without its credentials.
    endpoint = f"http://u:{CANARY6}@127.0.0.1:9"
    (tiny / ".dvc" / "config.local").write_text(DVC_CONFIG_LOCAL.format(endpoint=endpoint))
    code, outputs["pull"] = hostile(tiny, pedigree, "pull", "tiny-abcde", "--offline")
    assert code == 4, outputs["pull"]
    # (its first request: whether the remote answers at all, before anything is written)
    assert "cannot reach the DVC remote (s3://pedigree/dvc)" in outputs["pull"]

    for what, text in outputs.items():
        assert_clean(what, text)
    events = (tiny / ".pedigree" / "lineage" / "openlineage.jsonl").read_text(encoding="utf-8")
    assert f'"repoUrl": "{CLEAN_ORIGIN}"' in events
    assert (tiny / ".pedigree" / "logs").is_dir()
    assert set(leaks(tiny)) == THEIR_FILES


@pytest.mark.asyncio
async def test_cluster_commands_send_and_print_no_credential(
    tiny: Path, tmp_path: Path, kmock: kmock.KubernetesEmulator
) -> None:
    pedigree = str(BIN / "pedigree")
    ok(tiny, pedigree, "compile", "--target", "argo")
    ok(tiny, "git", "add", "-A")
    ok(tiny, "git", "commit", "-q", "-m", "compiled")
    ok(tiny, "git", "update-ref", "refs/remotes/origin/main", "HEAD")
    kube = {"KUBECONFIG": str(write_kubeconfig(tmp_path / "kubeconfig", str(kmock.url)))}
    argo = MockArgo(kmock)
    posted = argo.accept_submit("tiny-abcde")
    served = workflow(
        "Failed",
        [node("upper", "Failed", message=f"cannot clone https://u:{CANARY1}@example.invalid/r")],
        run="tiny-abcde",
    )
    served["spec"]["arguments"]["parameters"].append({"name": "repo", "value": ORIGIN})
    argo.serve_run(served, run="tiny-abcde")
    argo.serve_pods(
        [pod("tiny-abcde-upper", "tiny-abcde.upper", run="tiny-abcde")],
        {"tiny-abcde-upper": f"cloning {ORIGIN}\n"},
    )

    def cli(*args: str) -> tuple[int, str]:
        return hostile(tiny, pedigree, *args, extra=kube)

    outputs: dict[str, str] = {}
    code, outputs["submit"] = await asyncio.to_thread(cli, "submit")
    assert code == 0, outputs["submit"]
    assert f"repo      {CLEAN_ORIGIN}" in outputs["submit"] and "pedigree-git" in outputs["submit"]
    code, outputs["status"] = await asyncio.to_thread(cli, "status", "tiny-abcde")
    assert code == 0 and CLEAN_ORIGIN in outputs["status"], outputs["status"]
    code, outputs["logs"] = await asyncio.to_thread(cli, "logs", "tiny-abcde", "upper")
    assert code == 0 and f"cloning {CLEAN_ORIGIN}" in outputs["logs"], outputs["logs"]

    assert len(posted) == 1
    for request in posted:
        body = request.body.decode("utf-8") if isinstance(request.body, bytes) else request.body
        assert_clean("the Workflow posted to the API server", body)
        assert {"name": "repo", "value": CLEAN_ORIGIN} in json.loads(body)["spec"]["arguments"][
            "parameters"
        ]
    for what, text in outputs.items():
        assert_clean(what, text)
    assert set(leaks(tiny)) == THEIR_FILES
