"""`pedigree pull RUN` against a local DVC remote populated as a cluster run populates it.

Each "pod" is a fresh git clone of the project (as Argo's git artifact checks it out) that runs
`python -m pedigree.cluster.step --stage NAME` with the remote in PEDIGREE_REMOTE, stage after
stage, exactly as the compiled WorkflowTemplate does. The demo project's `noisy` stage writes
random bytes, so a pulled file equal to the pod's proves it was restored, not recomputed. The
`gate` project's release appends event files to its registry in git and rewrites its serving
manifest: they come home byte-identical.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    BIN,
    DEMO_STEADY,
    git_clone,
    init_repos,
    make_demo_project,
    pedigree,
    project_env,
    run_and_commit,
    sh,
    write_small_project,
)

pytestmark = pytest.mark.integration
RUN = "demo-x7k2q"


def _step(pod: Path, stage: str, remote: Path, run: str = RUN) -> subprocess.CompletedProcess[str]:
    env = project_env()
    env.update(PEDIGREE_REMOTE=str(remote), PEDIGREE_WORKFLOW=run)
    for name in ("POD_NAME", "POD_NAMESPACE", "PEDIGREE_IMAGE", "PEDIGREE_IMAGE_DIGEST"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "pedigree.cluster.step", "--stage", stage],
        cwd=pod,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The demo project, and a remote holding what a two-step cluster run pushed."""
    base = tmp_path_factory.mktemp("cluster")
    origin = make_demo_project(base / "origin")
    remote = base / "remote"
    remote.mkdir()
    pods = {}
    for stage in ("steady", "noisy"):
        pod = git_clone(origin, base / f"pod-{stage}")
        result = _step(pod, stage, remote)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"step {stage}: done" in result.stderr
        pods[stage] = pod
    return {"origin": origin, "remote": remote, **pods}


def _home(cluster_run: dict[str, Path], tmp_path: Path) -> Path:
    home = git_clone(cluster_run["origin"], tmp_path / "home")
    sh(
        home,
        str(BIN / "dvc"),
        "remote",
        "add",
        "--local",
        "-d",
        "cluster",
        str(cluster_run["remote"]),
    )
    return home


def test_a_step_pushes_outputs_run_cache_and_records(cluster_run: dict[str, Path]) -> None:
    remote = cluster_run["remote"]
    assert list((remote / "runs").rglob("*")), "the run-cache reached the remote"
    records = sorted(p.relative_to(remote).as_posix() for p in remote.rglob("*.json"))
    stages = {path.split("/")[3] for path in records if path.startswith("pedigree/lineage/")}
    assert stages == {"steady", "noisy"}
    # The pod really ran its stage (noisy is not deterministic: its bytes are the pod's own).
    pod_noisy = (cluster_run["noisy"] / "data" / "noisy.bin").read_bytes()
    assert pod_noisy != (cluster_run["origin"] / "data" / "noisy.bin").read_bytes()


def test_pull_restores_the_run_without_recomputing(
    cluster_run: dict[str, Path], tmp_path: Path
) -> None:
    home = _home(cluster_run, tmp_path)
    logs = home / ".pedigree" / "logs"
    before = {p.name: p.read_bytes() for p in logs.glob("*")} if logs.is_dir() else {}
    result = pedigree(home, "pull", RUN, "--offline", "--json")
    report = json.loads(result.stdout)
    outcomes = {s["stage"]: s["outcome"] for s in report["stages"]}
    assert outcomes["noisy"] == "restored"
    assert outcomes["steady"] in ("restored", "skipped")
    assert report["commit"] == sh(home, "git", "rev-parse", "HEAD").stdout.strip()
    # Bit-identical to what the pod wrote; nothing ran here (no stage log was written).
    pod = cluster_run["noisy"]
    assert (home / "data" / "noisy.bin").read_bytes() == (pod / "data" / "noisy.bin").read_bytes()
    after = {p.name: p.read_bytes() for p in logs.glob("*")} if logs.is_dir() else {}
    assert after == before
    # dvc.lock now describes the cluster's results, and the cluster's record is current.
    lock = (home / "dvc.lock").read_text()
    pod_lock = (pod / "dvc.lock").read_text()
    assert lock == pod_lock
    record = json.loads((home / "lineage" / "noisy.json").read_text())
    pod_record = json.loads((pod / "lineage" / "noisy.json").read_text())
    assert record["run_id"] == pod_record["run_id"]
    assert "dvc.lock" in report["git_add"]
    # The pulled results are an ordinary up-to-date project: lineage traces them.
    trace = pedigree(home, "lineage", "data/noisy.bin", "--format", "json")
    assert pod_record["run_id"] in trace.stdout
    status = pedigree(home, "status", "--json")
    assert json.loads(status.stdout)["up_to_date"] is True
    # ... and verify re-runs a pulled stage from the pulled inputs and proves it identical.
    verify = pedigree(home, "verify", "steady", "--json")
    assert json.loads(verify.stdout)["ok"] is True


def test_pull_from_a_remote_that_is_not_the_default(
    cluster_run: dict[str, Path], tmp_path: Path
) -> None:
    home = git_clone(cluster_run["origin"], tmp_path / "home")
    sh(home, str(BIN / "dvc"), "remote", "add", "--local", "cluster", str(cluster_run["remote"]))
    result = pedigree(home, "pull", RUN, "--offline", "--remote", "cluster", "--json")
    outcomes = {s["stage"]: s["outcome"] for s in json.loads(result.stdout)["stages"]}
    assert outcomes["noisy"] == "restored"
    pod = cluster_run["noisy"]
    assert (home / "data" / "noisy.bin").read_bytes() == (pod / "data" / "noisy.bin").read_bytes()


def test_pull_refuses_another_commit(cluster_run: dict[str, Path], tmp_path: Path) -> None:
    home = _home(cluster_run, tmp_path)
    (home / "notes.txt").write_text("later work\n")
    sh(home, "git", "add", "notes.txt")
    sh(home, "git", "commit", "-q", "-m", "later")
    result = pedigree(home, "pull", RUN, "--offline", check=False)
    assert result.returncode == 2
    assert "ran git commit" in result.stderr and "git checkout" in result.stderr
    assert (home / "dvc.lock").read_text() == (cluster_run["origin"] / "dvc.lock").read_text()


def test_pull_of_an_unknown_run(cluster_run: dict[str, Path], tmp_path: Path) -> None:
    home = _home(cluster_run, tmp_path)
    result = pedigree(home, "pull", "demo-nope1", "--offline", check=False)
    assert result.returncode == 2
    assert "no results of run 'demo-nope1' in the DVC remote" in result.stderr


def test_pull_never_recomputes_a_missing_stage(
    cluster_run: dict[str, Path], tmp_path: Path
) -> None:
    # A remote where the noisy step never pushed its results.
    remote = tmp_path / "partial"
    shutil.copytree(cluster_run["remote"], remote)
    pod_lock = (cluster_run["noisy"] / "dvc.lock").read_text()
    for entry in (remote / "runs").rglob("*"):
        if entry.is_file() and "noisy" in entry.read_text(errors="ignore"):
            entry.unlink()
    home = git_clone(cluster_run["origin"], tmp_path / "home")
    sh(home, str(BIN / "dvc"), "remote", "add", "--local", "-d", "cluster", str(remote))
    result = pedigree(home, "pull", RUN, "--offline", check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "results of stage 'noisy'" in result.stderr
    assert "never recomputes" in result.stderr
    assert (home / "dvc.lock").read_text() != pod_lock
    assert "would have to run" in result.stderr


def test_step_without_remote_says_what_is_missing(cluster_run: dict[str, Path]) -> None:
    env = {k: v for k, v in project_env().items() if k != "PEDIGREE_REMOTE"}
    result = subprocess.run(
        [sys.executable, "-m", "pedigree.cluster.step", "--stage", "steady"],
        cwd=cluster_run["origin"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "PEDIGREE_REMOTE is not set" in result.stderr
    assert os.environ.get("PEDIGREE_REMOTE") is None


# A release-like stage over a registry in git: it appends event files (pedigree's own format,
# replayed for the champion) and rewrites the serving manifest, as the pets release does.
REGISTRY_SPEC = """\
apiVersion: pedigree/v1
kind: Pipeline
metadata:
  name: gate
spec:
  inputs: [data/source.txt, registry/gate]
  stages:
    - name: steady
      cmd: [python, -m, stages.steady]
      deps: [data/source.txt]
      params: [steady]
      outs: [data/steady]
    - name: release
      cmd: [python, -m, stages.release]
      deps: [data/steady, registry/gate]
      metrics: [data/release.json]
"""
REGISTRY_RELEASE = """\
import hashlib, json, pathlib
from pedigree.registry.events import RegistryEvent, load_events, now, write_event
from pedigree.registry.replay import replay

root = pathlib.Path("registry/gate")
model = hashlib.sha256(pathlib.Path("data/steady/upper.txt").read_bytes()).hexdigest()
state = replay(load_events(root))
if state.by_sha256(model) is None:
    before = state.champion.model_sha256 if state.champion else None
    write_event(root, RegistryEvent("registered", now(), model, "release", data={}))
    write_event(root, RegistryEvent("promoted", now(), model, "release", replaces=before))
champion = replay(load_events(root)).champion
pathlib.Path("cluster-conf/serving/gate.yaml").write_text(f"model: {champion.model_sha256}\\n")
pathlib.Path("data/release.json").write_text(json.dumps({"version": champion.version}) + "\\n")
"""
GATE_RUN = "gate-q8w3e"


@pytest.fixture(scope="module")
def registry_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A project whose release appends to its registry in git, a change committed after its
    last local run, and a remote holding what the cluster run of that change pushed."""
    base = tmp_path_factory.mktemp("registry")
    origin = write_small_project(
        base / "origin",
        REGISTRY_SPEC,
        "steady:\n  factor: 2\n",
        {"steady": {"__main__.py": DEMO_STEADY}, "release": {"__main__.py": REGISTRY_RELEASE}},
        {
            "data/source.txt": "one\ntwo\n",
            "registry/gate/README.md": "The model registry: event files.\n",
            "cluster-conf/serving/.keep": "",
        },
    )
    run_and_commit(init_repos(origin))
    assert len(list((origin / "registry" / "gate" / "events").iterdir())) == 2
    # A new model: the cluster's release registers and promotes it.
    (origin / "params.yaml").write_text("steady:\n  factor: 3\n")
    sh(origin, "git", "commit", "-q", "-am", "factor 3")
    remote = base / "remote"
    remote.mkdir()
    pods = {}
    for stage in ("steady", "release"):
        pod = git_clone(origin, base / f"pod-{stage}")
        result = _step(pod, stage, remote, GATE_RUN)
        assert result.returncode == 0, result.stdout + result.stderr
        pods[stage] = pod
        pods[f"{stage}-log"] = result.stderr
    return {"origin": origin, "remote": remote, **pods}


def _events(root: Path) -> dict[str, bytes]:
    folder = root / "registry" / "gate" / "events"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_the_release_step_sends_its_event_files_home(registry_run: dict[str, Any]) -> None:
    pod = registry_run["release"]
    new = set(_events(pod)) - set(_events(registry_run["origin"]))
    assert len(new) == 2, "the pod's release registered and promoted the new model"
    log = str(registry_run["release-log"])
    assert "3 file(s) for git copied to the remote" in log
    listing = registry_run["remote"] / "pedigree" / "files" / GATE_RUN / "release.json"
    paths = [f["path"] for f in json.loads(listing.read_text())["files"]]
    assert paths == ["cluster-conf/serving/gate.yaml"] + [
        f"registry/gate/events/{name}" for name in sorted(new)
    ]
    # steady wrote nothing for git: its list is empty
    steady = registry_run["remote"] / "pedigree" / "files" / GATE_RUN / "steady.json"
    assert json.loads(steady.read_text())["files"] == []


def test_pull_brings_the_registry_events_home_byte_identical(
    registry_run: dict[str, Any], tmp_path: Path
) -> None:
    home = git_clone(registry_run["origin"], tmp_path / "home")
    sh(home, str(BIN / "dvc"), "remote", "add", "--local", "-d", "c", str(registry_run["remote"]))
    report = json.loads(pedigree(home, "pull", GATE_RUN, "--offline", "--json").stdout)
    pod = registry_run["release"]
    assert {s["stage"]: s["outcome"] for s in report["stages"]} == {
        "steady": "restored",
        "release": "restored",
    }
    assert _events(home) == _events(pod)
    for rel in ("cluster-conf/serving/gate.yaml", "data/release.json", "dvc.lock"):
        assert (home / rel).read_bytes() == (pod / rel).read_bytes(), rel
    assert "registry/gate/events" in report["git_add"].split()
    assert "cluster-conf/serving/gate.yaml" in report["git_add"].split()
    assert len(report["files"]) == 3
    # What the user commits is an up-to-date project: dvc.lock hashed the registry with the
    # pod's events, so nothing is stale and a local run changes nothing.
    assert json.loads(pedigree(home, "status", "--json").stdout)["up_to_date"] is True
    sh(home, "git", "add", "-A")
    sh(home, "git", "commit", "-q", "-m", "cluster run")
    outcomes = {
        s["stage"]: s["outcome"]
        for s in json.loads(pedigree(home, "run", "--json").stdout)["stages"]
    }
    assert set(outcomes.values()) <= {"skipped"}, outcomes
    assert _events(home) == _events(pod)


def test_pull_keeps_a_local_change_and_puts_nothing_in_place(
    registry_run: dict[str, Any], tmp_path: Path
) -> None:
    home = git_clone(registry_run["origin"], tmp_path / "home")
    sh(home, str(BIN / "dvc"), "remote", "add", "--local", "-d", "c", str(registry_run["remote"]))
    (home / "cluster-conf" / "serving" / "gate.yaml").write_text("model: mine\n")
    result = pedigree(home, "pull", GATE_RUN, "--offline", check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "has changes here that are not committed" in result.stderr
    assert _events(home) == _events(registry_run["origin"])
    assert (home / "cluster-conf" / "serving" / "gate.yaml").read_text() == "model: mine\n"
