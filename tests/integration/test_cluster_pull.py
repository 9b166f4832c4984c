"""`pedigree pull RUN` against a local DVC remote populated as a cluster run populates it.

Each "pod" is a fresh git clone of the project (as Argo's git artifact checks it out) that runs
`python -m pedigree.cluster.step --stage NAME` with the remote in PEDIGREE_REMOTE, stage after
stage, exactly as the compiled WorkflowTemplate does. The demo project's `noisy` stage writes
random bytes, so a pulled file equal to the pod's proves it was restored, not recomputed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import BIN, make_demo_project, pedigree, project_env, sh

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


def _clone(origin: Path, target: Path) -> Path:
    sh(origin.parent, "git", "clone", "-q", str(origin), str(target))
    return target


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The demo project, and a remote holding what a two-step cluster run pushed."""
    base = tmp_path_factory.mktemp("cluster")
    origin = make_demo_project(base / "origin")
    remote = base / "remote"
    remote.mkdir()
    pods = {}
    for stage in ("steady", "noisy"):
        pod = _clone(origin, base / f"pod-{stage}")
        result = _step(pod, stage, remote)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"step {stage}: done" in result.stderr
        pods[stage] = pod
    return {"origin": origin, "remote": remote, **pods}


def _home(cluster_run: dict[str, Path], tmp_path: Path) -> Path:
    home = _clone(cluster_run["origin"], tmp_path / "home")
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
    home = _clone(cluster_run["origin"], tmp_path / "home")
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
    home = _clone(cluster_run["origin"], tmp_path / "home")
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
