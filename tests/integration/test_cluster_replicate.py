"""`pedigree replicate --folds` as the compiled replicate WorkflowTemplate runs it on a cluster.

Each "pod" is a fresh git clone of a tiny pets project (Argo's git artifact) that runs the
container command of one template of `cluster-conf/base/workflowtemplate-pets-replicate.yaml`,
read from the compiled YAML, with the DVC remote (a local folder) in PEDIGREE_REMOTE: `plan`
once, `fold-run` once per item of the list plan printed (Argo's withParam fan-out), `gather`
once. Then `pedigree pull RUN` in another checkout brings the summary, the label audit's files
and every fold run home, and a local `replicate --folds` reuses them all.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pedigree.compile.argo_replicate import render_replicate
from pedigree.spec.load import load
from tests.integration.conftest import BIN, pedigree, project_env, sh

pytestmark = pytest.mark.integration
RUN = "pets-replicate-x7k2q"
SUMMARY = "replicates/summary.json"


def _commands(root: Path) -> dict[str, list[str]]:
    """Each template's container command, from the compiled WorkflowTemplate."""
    loaded = load(root)
    files = render_replicate(loaded.spec, loaded.project.spec_path)
    doc = yaml.safe_load(files["cluster-conf/base/workflowtemplate-pets-replicate.yaml"])
    return {
        t["name"]: t["container"]["command"] for t in doc["spec"]["templates"] if "container" in t
    }


def _argv(command: list[str], values: dict[str, str]) -> list[str]:
    """The command with Argo's expressions filled in, run by this interpreter."""
    argv = []
    for arg in command[1:]:  # the image's runner interpreter is this test's
        for name, value in values.items():
            arg = arg.replace("{{" + name + "}}", value)
        assert "{{" not in arg, arg
        argv.append(arg)
    return [sys.executable, *argv]


def _pod(
    origin: Path, name: str, argv: list[str], remote: Path, code: int = 0
) -> subprocess.CompletedProcess:
    pod = origin.parent / name
    sh(origin.parent, "git", "clone", "-q", str(origin), str(pod))
    env = project_env()
    env.update(PEDIGREE_REMOTE=str(remote), PEDIGREE_WORKFLOW=RUN)
    for var in ("POD_NAME", "POD_NAMESPACE", "AWS_ENDPOINT_URL"):
        env.pop(var, None)
    result = subprocess.run(argv, cwd=pod, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == code, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_the_replicate_workflow_runs_pod_by_pod_and_pulls_home(
    ran_template: Path, tmp_path: Path
) -> None:
    origin = tmp_path / "origin"
    shutil.copytree(ran_template, origin, symlinks=True)
    remote = tmp_path / "remote"
    remote.mkdir()
    # what the pipeline's own cluster steps leave in the remote: outputs and run-cache
    sh(origin, str(BIN / "dvc"), "remote", "add", "--local", "-d", "cluster", str(remote))
    sh(origin, str(BIN / "dvc"), "push", "-q", "--run-cache")
    commands = _commands(origin)
    params = {"workflow.parameters.folds": "2", "workflow.parameters.seeds": ""}

    planned = _pod(origin, "pod-plan", _argv(commands["plan"], params), remote)
    items = json.loads(planned.stdout)  # stdout is the list alone: Argo's outputs.result
    assert [(i["fold"], i["seed"]) for i in items] == [(0, 1234), (1, 1234)]
    assert len({i["plan"] for i in items}) == 1
    for item in items:
        values = {**params, **{f"inputs.parameters.{k}": str(v) for k, v in item.items()}}
        ran = _pod(origin, f"pod-run-{item['fold']}", _argv(commands["fold-run"], values), remote)
        assert f"fold {item['fold']} seed 1234: done" in ran.stderr
        assert "evaluate ran" in ran.stderr
    # a pod whose checkout deals other folds than plan did refuses to run
    wrong = {**values, "inputs.parameters.plan": "0" * 64}
    refused = _pod(origin, "pod-wrong", _argv(commands["fold-run"], wrong), remote, code=1)
    assert "are not the planned ones (000000000000)" in refused.stderr
    gathered = _pod(origin, "pod-gather", _argv(commands["gather"], params), remote)
    assert "ran" not in [
        line.split()[-1] for line in gathered.stderr.splitlines() if "seed 1234:" in line
    ]
    pod_summary = (tmp_path / "pod-gather" / SUMMARY).read_bytes()
    assert json.loads(pod_summary)["folds"]["k"] == 2

    # home: the user's checkout at the same commit, with its own data
    home = tmp_path / "home"
    shutil.copytree(ran_template, home, symlinks=True)
    sh(home, str(BIN / "dvc"), "remote", "add", "--local", "-d", "cluster", str(remote))
    report = json.loads(pedigree(home, "pull", RUN, "--offline", "--json").stdout)
    assert SUMMARY in report["files"]
    assert "reports/label_issues.csv" in report["files"]
    assert sorted(report["folders"]) == [
        ".pedigree/replicate/fold-0-seed-1234",
        ".pedigree/replicate/fold-1-seed-1234",
        ".pedigree/replicate/labels",
    ]
    assert (home / SUMMARY).read_bytes() == pod_summary
    # the pulled runs are current here: a local replicate reuses every stage and the audit
    again = json.loads(pedigree(home, "replicate", "--folds", "2", "--json").stdout)
    assert {s["outcome"] for run in again["seeds"] for s in run["stages"]} == {"reused"}
    assert again["labels"]["outcome"] == "reused"
    assert again["changed"] is False
    audit = json.loads(pedigree(home, "audit", "--json").stdout)
    checks = {c["name"]: c for c in audit["checks"]}
    assert checks["folds"]["status"] == "pass", checks["folds"]
