"""examples/tabular, copied out as a user would, through every command with the real CLI.

A second pipeline that shares nothing with pets (stage names, split names, group key, seed,
numpy instead of TensorFlow): run, lineage, verify --all, audit (every check passing with a
meaningful summary, and two planted leaks caught), replicate and compile --target argo (valid
against the Argo and Kubernetes schemas). The run is built once and copied where a test
changes it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.integration.conftest import init_repos, pedigree, run_outcomes, set_params, sh
from tests.support.k8s_schemas import argo_errors, kubernetes_errors, load_documents, step_pod

pytestmark = pytest.mark.integration

EXAMPLE = REPO_ROOT / "examples" / "tabular"
STAGES = ("load", "split", "fit", "score")
OUTPUTS = {
    "load": "data/raw",
    "split": "data/splits",
    "fit": "models/fit",
    "score": "reports/metrics.json",
}


def commit(root: Path, message: str) -> None:
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", message)


def private_copy(template: Path, target: Path) -> Path:
    shutil.copytree(template, target, symlinks=True)
    return target


def audit_json(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = pedigree(root, "audit", "--json", *args, check=False)
    return result.returncode, json.loads(result.stdout)


@pytest.fixture(scope="module")
def tabular(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example copied out, made a git + DVC project, run once and committed."""
    root = tmp_path_factory.mktemp("tabular") / "tabular"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    init_repos(root)
    commit(root, "the example")
    assert run_outcomes(root) == dict.fromkeys(STAGES, "ran")
    commit(root, "first run")
    return root


def test_the_example_ships_consistent_and_runs_from_a_copy(tabular: Path) -> None:
    # spec valid, dvc.yaml current, stage locks agree with the combined one, and this
    # environment matches it
    assert pedigree(tabular, "check").returncode == 0
    metrics = json.loads((tabular / "reports" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["split"] == "test" and metrics["rows"] > 0
    assert 0.5 < metrics["roc_auc"] <= 1.0
    status = json.loads(pedigree(tabular, "status", "--json").stdout)
    assert status["up_to_date"] is True
    # nothing of the pets pipeline leaked into the copy
    dvc_yaml = (tabular / "dvc.yaml").read_text(encoding="utf-8")
    assert "transform" not in dvc_yaml and "data/prepared" not in dvc_yaml


def test_lineage_has_a_record_per_stage_naming_numpy(tabular: Path) -> None:
    doc = json.loads(pedigree(tabular, "lineage", "reports/metrics.json", "--json").stdout)
    steps = {step["stage"]: step for step in doc["steps"]}
    assert sorted(steps) == sorted(STAGES)
    for stage, step in steps.items():
        packages = step["environment"]["packages"]
        assert "numpy" in packages, (stage, packages)
        assert not any(name.startswith(("tensorflow", "keras")) for name in packages)
        assert step["environment"]["lock"]["path"] == f"images/{stage}/requirements.lock"
        assert step["status"] == "succeeded" and step["code"]["git_dirty"] is False
    assert steps["fit"]["seeds"]["fit.seed"] == 1234
    assert [source["stage"] for source in doc["sources"]] == ["load"]
    tree = pedigree(tabular, "lineage", "models/fit").stdout
    assert tree.startswith("models/fit  made by stage fit"), tree


def test_verify_all_reproduces_every_stage_bit_identically(tabular: Path) -> None:
    result = pedigree(tabular, "verify", "--all", "--json", check=False)
    doc = json.loads(result.stdout)
    assert result.returncode == 0 and doc["ok"] is True, result.stdout[-2000:]
    assert [s["stage"] for s in doc["stages"]] == list(STAGES)
    for stage in doc["stages"]:
        assert stage["replayed"] is True and stage["identical"] is True, stage["stage"]
        assert [o["path"] for o in stage["outputs"]] == [OUTPUTS[stage["stage"]]]
        assert all(o["identical"] is True for o in stage["outputs"])


def test_audit_passes_every_check_with_what_it_checked(tabular: Path) -> None:
    code, doc = audit_json(tabular)
    assert code == 0, doc
    assert doc["ok"] is True and doc["failed"] == []
    # no release stage, no registry: the champions check cannot apply and says why; no fold
    # replicate yet and no label audit declared: neither can the folds and labels checks
    assert doc["skipped"] == ["champions", "folds", "labels"]
    checks = {c["name"]: c for c in doc["checks"]}
    champions = checks.pop("champions")
    assert champions["status"] == "skip" and "no model registry" in champions["summary"]
    assert "holds no fold replicates" in checks.pop("folds")["summary"]
    assert "no label audit" in checks.pop("labels")["summary"]
    assert list(checks) == ["graph-hygiene", "split-leakage", "normalization", "lineage-records"]
    for check in checks.values():
        assert check["status"] == "pass" and check["ok"] is True and check["findings"] == []
        assert set(check) == {"name", "ok", "status", "summary", "findings"}
    assert checks["graph-hygiene"]["summary"] == (
        "test reaches only score; fit sees only train, validation "
        "(4 stages in pipelines/tabular.yaml, dvc.yaml and 4 lineage records)"
    )
    leakage = checks["split-leakage"]["summary"]
    assert leakage.startswith("no customer id and no sample content in two splits (")
    assert "240 customer ids: train " in leakage and "validation " in leakage
    assert "test " in leakage and "agree)" in leakage
    train = json.loads((tabular / "data/splits/stats.json").read_text())["count_samples"]
    assert checks["normalization"]["summary"] == (
        f"stats.json was computed on exactly the {train} train samples (samples_sha256 matches)"
    )
    assert checks["lineage-records"]["summary"].startswith("4 stages in dvc.lock: every record")


def test_a_fit_that_reads_the_test_split_is_caught(tabular: Path, tmp_path: Path) -> None:
    root = private_copy(tabular, tmp_path / "peeking")
    spec_path = root / "pipelines" / "tabular.yaml"
    doc = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    fit = next(s for s in doc["spec"]["stages"] if s["name"] == "fit")
    fit["deps"].append("data/splits/test")
    spec_path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    code, report = audit_json(root, "--check", "graph-hygiene")
    assert code == 1 and report["failed"] == ["graph-hygiene"]
    (finding,) = report["checks"][0]["findings"]
    assert finding["message"] == (
        "stage 'fit' depends on 'data/splits/test': it holds the test split "
        "(data/splits/test), which may reach only score"
    )
    assert finding["where"] == "pipelines/tabular.yaml"


def test_splitting_rows_instead_of_customers_is_caught(tabular: Path, tmp_path: Path) -> None:
    root = private_copy(tabular, tmp_path / "by-row")
    set_params(root, {"split": {"by": "row_id"}})
    assert run_outcomes(root) == {"load": "skipped", "split": "ran", "fit": "ran", "score": "ran"}
    code, report = audit_json(root)
    assert code == 1 and report["failed"] == ["split-leakage"], report["failed"]
    messages = [f["message"] for f in report["checks"][1]["findings"]]
    assert messages[0].split(":")[0].endswith("customer id(s) in more than one split")
    assert "customer id(s) listed in more than one split" in messages[1]
    assert report["checks"][1]["findings"][0]["where"] == "data/splits/provenance.jsonl"


def test_a_bad_param_is_refused_before_any_stage_runs(tabular: Path, tmp_path: Path) -> None:
    # Each stage's params.py declares its models (PARAMS): pedigree checks params.yaml first.
    root = private_copy(tabular, tmp_path / "bad-param")
    set_params(root, {"split": {"by": "account"}})
    result = pedigree(root, "run", check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "params.yaml:" in result.stderr and "[split.by]" in result.stderr, result.stderr
    assert "ran" not in result.stdout
    assert sh(root, "git", "status", "--porcelain").stdout == " M params.yaml\n"


def test_replicate_varies_the_declared_seed(tabular: Path, tmp_path: Path) -> None:
    root = private_copy(tabular, tmp_path / "replicated")
    doc = json.loads(pedigree(root, "replicate", "--seeds", "1,2", "--json").stdout)
    summary = json.loads((root / "replicates" / "summary.json").read_text(encoding="utf-8"))
    assert doc["summary"] == summary and summary["seeds"] == [1, 2]
    assert doc["changed"] is True and doc["readers"] == []  # no stage of this example reads it
    replicated = summary["replicates"]
    assert replicated["stages"] == ["fit", "score"] and replicated["seed"] == "fit.seed"
    assert "seed" not in replicated["params"]["fit"]
    assert replicated["upstream"] == {"data/splits": replicated["upstream"]["data/splits"]}
    for seed in doc["seeds"]:
        assert [(s["stage"], s["outcome"]) for s in seed["stages"]] == [
            ("fit", "ran"),
            ("score", "ran"),
        ]
    runs = {run["seed"]: run["metrics"] for run in summary["runs"]}
    assert set(runs) == {1, 2} and all("roc_auc" in m and "accuracy" in m for m in runs.values())
    spread = summary["metrics"]["roc_auc"]
    assert spread["n"] == 2 and spread["min"] <= spread["mean"] <= spread["max"]
    # the user's own run is untouched: the seeds ran in scratch workspaces
    assert sh(root, "git", "status", "--porcelain").stdout.strip() == "?? replicates/"


def test_compile_argo_is_valid_against_the_argo_and_kubernetes_schemas(
    tabular: Path, tmp_path: Path
) -> None:
    root = private_copy(tabular, tmp_path / "argo")
    out = pedigree(root, "compile", "--target", "argo").stdout
    template_path = root / "cluster-conf" / "base" / "workflowtemplate-tabular.yaml"
    workflow_path = root / "cluster-conf" / "workflows" / "tabular.yaml"
    assert "wrote cluster-conf/base/workflowtemplate-tabular.yaml" in out
    documents = [*load_documents(template_path), *load_documents(workflow_path)]
    assert {d["kind"] for d in documents} == {"WorkflowTemplate", "Workflow"}
    for document in documents:
        assert argo_errors(document) == [], document["kind"]
    (template,) = load_documents(template_path)
    assert template["metadata"]["name"] == "pedigree-tabular"
    dag = next(t for t in template["spec"]["templates"] if t["name"] == "pipeline")
    tasks = {t["name"]: sorted(t.get("dependencies", [])) for t in dag["dag"]["tasks"]}
    assert tasks == {"load": [], "split": ["load"], "fit": ["split"], "score": ["fit", "split"]}
    steps = {t["name"]: t for t in template["spec"]["templates"] if "container" in t}
    assert sorted(steps) == sorted(STAGES)
    for name, step in steps.items():
        assert kubernetes_errors(step_pod(template, name, step)) == [], name


def test_folds_work_for_a_pipeline_that_is_not_pets(tabular: Path, tmp_path: Path) -> None:
    """Grouped nested K-fold from the spec alone: split re-splits by customer per fold (through
    stagekit's fold-map reader), fit and score run, and the audit proves each fold's isolation."""
    root = private_copy(tabular, tmp_path / "folded")
    doc = json.loads(
        pedigree(
            root, "replicate", "--folds", "3", "--seeds", "1,2", "--jobs", "2", "--json"
        ).stdout
    )
    summary = json.loads((root / "replicates" / "summary.json").read_text(encoding="utf-8"))
    assert doc["summary"] == summary and "labels" not in doc  # no label audit declared
    folds = summary["folds"]
    assert (folds["k"], folds["group_key"], folds["held_out"]) == (3, "customer_id", "test")
    assert summary["replicates"]["stages"] == ["split", "fit", "score"]
    assert [(r["fold"], r["seed"]) for r in summary["runs"]] == [
        (f, s) for f in range(3) for s in (1, 2)
    ]
    low, high = summary["metrics"]["roc_auc"]["interval"]
    assert low <= summary["metrics"]["roc_auc"]["mean"] <= high
    provenance = root / "data" / "splits" / "provenance.jsonl"
    lines = [json.loads(line) for line in provenance.read_text(encoding="utf-8").splitlines()]
    test_rows = {d["id"] for d in lines if d["split"] == "test"}
    held = set()
    for fold in range(3):
        ws = root / ".pedigree" / "replicate" / f"fold-{fold}-seed-1"
        rows = [json.loads(line) for line in (ws / "data/splits/provenance.jsonl").open()]
        assert not {d["id"] for d in rows} & test_rows  # the test split reaches no fold
        held |= {d["id"] for d in rows if d["split"] == "test"}
    assert held == {d["id"] for d in lines} - test_rows  # every other row held out once
    audit = json.loads(pedigree(root, "audit", "--check", "folds", "--json").stdout)
    assert audit["checks"][0]["status"] == "pass", audit
    assert "6 fold run(s) of 3-fold plan" in audit["checks"][0]["summary"]
    assert sh(root, "git", "status", "--porcelain").stdout.strip() == "?? replicates/"
