"""`pedigree replicate --folds` as the compiled replicate WorkflowTemplate runs it on a cluster.

Each "pod" is a fresh git clone of a tiny pets project (Argo's git artifact) that runs the
container command of one template of `cluster-conf/base/workflowtemplate-pets-replicate.yaml`,
read from the compiled YAML, with the DVC remote (a local folder) in PEDIGREE_REMOTE: `plan`
once, `fold-run` once per item of the list plan printed (Argo's withParam fan-out), `gather`
once. Then `pedigree pull RUN` in another checkout brings the summary, the label audit's files
and every fold run home, and a local `replicate --folds` reuses them all. The tests of what a
fold replicate of pets computes (isolation by group, the interval, the label audit, the report,
a planted leak) read those runs.
"""

from __future__ import annotations

import csv
import json
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from pedigree.compile.argo_replicate import render_replicate
from pedigree.containers import image_ref
from pedigree.containers.engine import EngineError, find_engine, missing_images
from pedigree.lineage.hashing import content_hash
from pedigree.replicate.stats import t_975
from pedigree.spec.load import load
from tests.integration.conftest import BIN, git_clone, pedigree, project_env, sh

pytestmark = pytest.mark.integration
RUN = "pets-replicate-x7k2q"
SUMMARY = "replicates/summary.json"
SCRATCH = Path(".pedigree") / "replicate"
K = 2  # folds: what three would prove (each sample held out once, by group) at less cost


def _commands(root: Path) -> dict[str, list[str]]:
    """Each template's container command, from the compiled WorkflowTemplate."""
    loaded = load(root)
    files = render_replicate(loaded.spec, loaded.project.spec_path)
    doc = yaml.safe_load(files["cluster-conf/base/workflowtemplate-pets-replicate.yaml"])
    return {
        t["name"]: t["container"]["command"] for t in doc["spec"]["templates"] if "container" in t
    }


def _argv(command: list[str], values: dict[str, str]) -> list[str]:
    """The command with Argo's expressions filled in."""
    argv = []
    for arg in command:
        for name, value in values.items():
            arg = arg.replace("{{" + name + "}}", value)
        assert "{{" not in arg, arg
        argv.append(arg)
    return argv


# (pod checkout, argv as compiled, remote) -> the finished process
Runner = Callable[[Path, list[str], Path], subprocess.CompletedProcess]


def _as_process(pod: Path, argv: list[str], remote: Path) -> subprocess.CompletedProcess:
    """The step as a process of this test's interpreter (the image's is the .venv's here)."""
    env = project_env()
    env.update(PEDIGREE_REMOTE=str(remote), PEDIGREE_WORKFLOW=RUN)
    for var in ("POD_NAME", "POD_NAMESPACE", "AWS_ENDPOINT_URL"):
        env.pop(var, None)
    return subprocess.run(
        [sys.executable, *argv[1:]], cwd=pod, env=env, capture_output=True, text=True, timeout=900
    )


def _in_image(engine: str) -> Runner:
    """The step in the real replicate image, under the template's pod security: uid 10001,
    read-only root with a /tmp volume, no capabilities, no network; the checkout at
    /workspace, the remote a mounted folder."""

    def run(pod: Path, argv: list[str], remote: Path) -> subprocess.CompletedProcess:
        for path in (pod, remote, *pod.rglob("*"), *remote.rglob("*")):
            if not path.is_symlink():
                path.chmod(0o777 if path.is_dir() else 0o666)  # as fsGroup makes them writable
        return subprocess.run(
            [
                engine, "run", "--rm", "--read-only", "--tmpfs", "/tmp:rw,exec,nosuid,nodev",
                "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges", "--user", "10001:10001",
                "--network", "none", "--ulimit", "nofile=1024:1024",
                "--ulimit", "nproc=1024:1024", "--volume", f"{pod}:/workspace",
                "--volume", f"{remote}:/remote", "--workdir", "/workspace",
                "--env", "PEDIGREE_REMOTE=/remote", "--env", f"PEDIGREE_WORKFLOW={RUN}",
                "--env", "HOME=/tmp", image_ref("replicate"), *argv,
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )  # fmt: skip

    return run


def _pod(
    origin: Path, name: str, argv: list[str], remote: Path, runner: Runner, code: int = 0
) -> subprocess.CompletedProcess:
    pod = git_clone(origin, origin.parent / name)
    result = runner(pod, argv, remote)
    assert result.returncode == code, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _workflow_then_pull(ran_template: Path, tmp_path: Path, runner: Runner) -> Path:
    """plan, a fold-run pod per planned item, gather; then pull in another checkout (returned)."""
    origin = tmp_path / "origin"
    shutil.copytree(ran_template, origin, symlinks=True)
    remote = tmp_path / "remote"
    remote.mkdir()
    # what the pipeline's own cluster steps leave in the remote: outputs and run-cache
    sh(origin, str(BIN / "dvc"), "remote", "add", "--local", "-d", "cluster", str(remote))
    sh(origin, str(BIN / "dvc"), "push", "-q", "--run-cache")
    commands = _commands(origin)
    params = {"workflow.parameters.folds": str(K), "workflow.parameters.seeds": ""}

    planned = _pod(origin, "pod-plan", _argv(commands["plan"], params), remote, runner)
    items = json.loads(planned.stdout)  # stdout is the list alone: Argo's outputs.result
    assert [(i["fold"], i["seed"]) for i in items] == [(0, 1234), (1, 1234)]
    assert len({i["plan"] for i in items}) == 1
    for item in items:
        values = {**params, **{f"inputs.parameters.{k}": str(v) for k, v in item.items()}}
        argv = _argv(commands["fold-run"], values)
        ran = _pod(origin, f"pod-run-{item['fold']}", argv, remote, runner)
        assert f"fold {item['fold']} seed 1234: done" in ran.stderr
        assert "evaluate ran" in ran.stderr
    # a pod whose checkout deals other folds than plan did refuses to run
    wrong = _argv(commands["fold-run"], {**values, "inputs.parameters.plan": "0" * 64})
    refused = _pod(origin, "pod-wrong", wrong, remote, runner, code=1)
    assert "are not the planned ones (000000000000)" in refused.stderr
    gathered = _pod(origin, "pod-gather", _argv(commands["gather"], params), remote, runner)
    assert "ran" not in [
        line.split()[-1] for line in gathered.stderr.splitlines() if "seed 1234:" in line
    ]
    pod_summary = (tmp_path / "pod-gather" / SUMMARY).read_bytes()
    assert json.loads(pod_summary)["folds"]["k"] == K

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
    again = json.loads(pedigree(home, "replicate", "--folds", str(K), "--json").stdout)
    assert {s["outcome"] for run in again["seeds"] for s in run["stages"]} == {"reused"}
    assert again["labels"]["outcome"] == "reused"
    assert again["changed"] is False
    audit = json.loads(pedigree(home, "audit", "--json").stdout)
    checks = {c["name"]: c for c in audit["checks"]}
    assert checks["folds"]["status"] == "pass", checks["folds"]
    return home


@pytest.fixture(scope="module")
def home(ran_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's checkout after the workflow ran pod by pod (as processes) and `pedigree pull`
    brought it home: the fold runs every test of `replicate --folds` on pets reads (a local
    run would compute the very same runs with the same code; the tabular example's test runs
    them locally)."""
    return _workflow_then_pull(ran_template, tmp_path_factory.mktemp("workflow"), _as_process)


def _copy(home: Path, tmp_path: Path) -> Path:
    target = tmp_path / "home"
    shutil.copytree(home, target, symlinks=True)
    return target


def test_the_replicate_workflow_runs_pod_by_pod_and_pulls_home(home: Path) -> None:
    # the workflow's own checks are in the fixture; what it leaves is a current replicate
    assert json.loads((home / SUMMARY).read_text(encoding="utf-8"))["folds"]["k"] == K


def _provenance(path: Path) -> dict[str, tuple[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {d["id"]: (d["split"], d["animal_id"]) for d in map(json.loads, lines) if d}


def test_the_folds_are_isolated_summarised_and_label_audited(home: Path) -> None:
    project = _provenance(home / "data" / "prepared" / "provenance.jsonl")
    test_ids = {i for i, (split, _) in project.items() if split == "test"}
    others = {i for i in project if i not in test_ids}
    summary = json.loads((home / SUMMARY).read_text(encoding="utf-8"))
    folds = summary["folds"]
    assert (folds["k"], folds["held_out"], folds["group_key"]) == (K, "test", "animal_id")
    assert sum(folds["sizes"]) == len(others) and folds["excluded"] == len(test_ids)
    assert [(r["fold"], r["seed"]) for r in summary["runs"]] == [(f, 1234) for f in range(K)]
    # the 95% interval, as numpy-free statistics give it
    values = [r["metrics"]["mean_iou"] for r in summary["runs"]]
    half = t_975(K - 1) * statistics.stdev(values) / K**0.5
    low, high = summary["metrics"]["mean_iou"]["interval"]
    assert low == pytest.approx(statistics.fmean(values) - half, abs=2e-6)
    assert high == pytest.approx(statistics.fmean(values) + half, abs=2e-6)
    # each fold: its held-out samples are its test split, the project's test split is nowhere
    held_out: set[str] = set()
    for fold in range(K):
        ws = home / SCRATCH / f"fold-{fold}-seed-1234"
        seen = _provenance(ws / "data" / "prepared" / "provenance.jsonl")
        assert not set(seen) & test_ids
        mine = {i for i, (split, _) in seen.items() if split == "test"}
        assert not mine & held_out  # every sample is held out once
        held_out |= mine
        outside = {a for i, (s, a) in seen.items() if s != "test"}
        assert not {a for i, (s, a) in seen.items() if s == "test"} & outside  # by group
    assert held_out == others
    # the label audit ranked every sample outside the test split, from out-of-fold predictions
    with (home / "reports" / "label_issues.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["id"] for row in rows} == others
    issues = json.loads((home / "reports" / "label_issues.json").read_text(encoding="utf-8"))
    assert issues["images"] == len(others) and len(issues["runs"]) == K
    # the audit proves the isolation from the records; the labels check reports (warn at most)
    audit = json.loads(pedigree(home, "audit", "--json").stdout)
    checks = {c["name"]: c for c in audit["checks"]}
    assert checks["labels"]["status"] in ("pass", "warn"), checks["labels"]
    assert audit["ok"] is True


def test_the_report_places_the_model_against_the_folds(home: Path, tmp_path: Path) -> None:
    root = _copy(home, tmp_path)
    pedigree(root, "run")
    report = (root / "reports" / "evaluation.ipynb").read_text(encoding="utf-8")
    assert "grouped nested k-fold" in report.lower() and "Label audit" in report
    # the same procedure and params as this model: current, with intervals and placement
    assert "**stale**" not in report and "95% interval" in report


def test_a_fold_whose_tune_read_its_held_out_fold_is_caught(home: Path, tmp_path: Path) -> None:
    root = _copy(home, tmp_path)
    # a planted leak: fold 1's tune record says it read the test split (its held-out fold)
    ws = root / SCRATCH / "fold-1-seed-1234"
    record_path = ws / "lineage" / "tune.json"
    record = json.loads(record_path.read_text(encoding="utf-8"))
    found = content_hash(ws / "data" / "prepared" / "test")
    assert found is not None
    record["inputs"].append(
        {"path": "data/prepared/test", "md5": found.md5, "size": found.size, "kind": "data",
         "nfiles": found.nfiles}
    )  # fmt: skip
    record_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    leaked = pedigree(root, "audit", "--check", "folds", check=False)
    assert leaked.returncode == 1, leaked.stdout
    assert "fold 1: " in leaked.stdout and "held-out sample(s) reached tune" in leaked.stdout


def test_the_replicate_workflow_runs_in_the_replicate_image(
    ran_template: Path, tmp_path: Path
) -> None:
    """The same, each pod in the real image (where podman or docker has it: `make images
    ONLY=base,replicate`; CI has no engine, so this runs where one is)."""
    try:
        engine = find_engine()
    except EngineError as exc:
        pytest.skip(exc.message)
    if missing_images(engine, [image_ref("replicate")]):
        pytest.skip(
            f"{engine.name} has no {image_ref('replicate')}: `make images ONLY=base,replicate`"
        )
    _workflow_then_pull(ran_template, tmp_path, _in_image(engine.name))
