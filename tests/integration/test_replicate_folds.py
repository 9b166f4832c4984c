"""`pedigree replicate --folds` on a real (tiny) project: grouped nested K-fold, the summary with
its intervals, the label audit over the out-of-fold predictions, reuse, `pedigree audit`'s
folds and labels checks, and a planted leak the folds check catches."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest

from pedigree.replicate.stats import t_975
from tests.integration.conftest import BIN, pedigree, sh

pytestmark = pytest.mark.integration

SUMMARY = Path("replicates") / "summary.json"
SCRATCH = Path(".pedigree") / "replicate"
FOLD_STAGES = ["transform", "tune", "train", "calibrate", "evaluate"]
TIMEOUT = 1800


def replicate(root: Path, *args: str, check: bool = True) -> str:
    return sh(root, str(BIN / "pedigree"), "replicate", *args, timeout=TIMEOUT, check=check).stdout


def provenance(path: Path) -> dict[str, tuple[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {d["id"]: (d["split"], d["animal_id"]) for d in map(json.loads, lines) if d}


def test_three_folds_isolated_summarised_label_audited_and_reused(ran_project: Path) -> None:
    root = ran_project
    project = provenance(root / "data" / "prepared" / "provenance.jsonl")
    test_ids = {i for i, (split, _) in project.items() if split == "test"}
    others = {i for i in project if i not in test_ids}
    result = json.loads(replicate(root, "--folds", "3", "--jobs", "2", "--json"))
    summary = json.loads((root / SUMMARY).read_text(encoding="utf-8"))
    assert result["summary"] == summary
    folds = summary["folds"]
    assert (folds["k"], folds["held_out"], folds["group_key"]) == (3, "test", "animal_id")
    assert sum(folds["sizes"]) == len(others) and folds["excluded"] == len(test_ids)
    assert [(r["fold"], r["seed"]) for r in summary["runs"]] == [(0, 1234), (1, 1234), (2, 1234)]
    for run in result["seeds"]:
        assert [s["stage"] for s in run["stages"]] == FOLD_STAGES
        assert all(s["outcome"] == "ran" for s in run["stages"])
    # the 95% interval, as numpy-free statistics give it
    values = [r["metrics"]["mean_iou"] for r in summary["runs"]]
    half = t_975(2) * statistics.stdev(values) / 3**0.5
    low, high = summary["metrics"]["mean_iou"]["interval"]
    assert low == pytest.approx(statistics.fmean(values) - half, abs=2e-6)
    assert high == pytest.approx(statistics.fmean(values) + half, abs=2e-6)
    # each fold: its held-out samples are its test split, the project's test split is nowhere
    held_out: set[str] = set()
    for fold in range(3):
        ws = root / SCRATCH / f"fold-{fold}-seed-1234"
        seen = provenance(ws / "data" / "prepared" / "provenance.jsonl")
        assert not set(seen) & test_ids
        mine = {i for i, (split, _) in seen.items() if split == "test"}
        assert not mine & held_out  # every sample is held out once
        held_out |= mine
        outside = {a for i, (s, a) in seen.items() if s != "test"}
        assert not {a for i, (s, a) in seen.items() if s == "test"} & outside  # by group
    assert held_out == others
    # the label audit ranked every sample outside the test split, from out-of-fold predictions
    assert result["labels"]["outcome"] == "ran"
    with (root / "reports" / "label_issues.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["id"] for row in rows} == others
    issues = json.loads((root / "reports" / "label_issues.json").read_text(encoding="utf-8"))
    assert issues["images"] == len(others) and len(issues["runs"]) == 3
    # the audit proves the isolation from the records; the labels check reports (warn at most)
    audit = json.loads(pedigree(root, "audit", "--json").stdout)
    checks = {c["name"]: c for c in audit["checks"]}
    assert checks["folds"]["status"] == "pass", checks["folds"]
    assert checks["labels"]["status"] in ("pass", "warn"), checks["labels"]
    assert audit["ok"] is True
    # again: everything is reused, nothing changes
    again = json.loads(replicate(root, "--folds", "3", "--json"))
    assert all(run["reused"] for run in again["seeds"]) and again["changed"] is False
    assert again["labels"]["outcome"] == "reused"
    # the report places this model's test score against the folds
    pedigree(root, "run")
    report = (root / "reports" / "evaluation.ipynb").read_text(encoding="utf-8")
    assert "grouped nested k-fold" in report.lower() and "Label audit" in report
    # the same procedure and params as this model: current, with intervals and placement
    assert "**stale**" not in report and "95% interval" in report
    # a planted leak: fold 1's tune record says it read the test split (its held-out fold)
    ws = root / SCRATCH / "fold-1-seed-1234"
    record_path = ws / "lineage" / "tune.json"
    record = json.loads(record_path.read_text(encoding="utf-8"))
    test_dir = next(
        o for o in json.loads((ws / "lineage" / "transform.json").read_text())["outputs"]
    )
    assert test_dir["path"] == "data/prepared"
    from pedigree.lineage.hashing import content_hash

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


def test_folds_refuse_bad_input_and_leave_nothing(ran_project: Path) -> None:
    root = ran_project
    before = (root / SUMMARY).read_bytes()
    for args, message in (
        (("--folds", "1"), "--folds: '1' is not a number of folds"),
        (("--folds", "99"), "--folds: '99' is not a number of folds"),
        (("--folds", "3", "--set", "train.nope=2"), "--set: params.yaml has no key train.nope"),
        (("--folds", "3", "--set", "determinism.seed=2"), "is set by replicate itself"),
        (("--folds", "3", "--jobs", "0"), "--jobs: 0 is not a number of parallel runs"),
        (("--folds", "40"), "the largest k possible is"),
    ):
        failed = sh(root, str(BIN / "pedigree"), "replicate", *args, check=False)
        assert failed.returncode == 2, (args, failed.stdout, failed.stderr)
        assert message in failed.stderr, (args, failed.stderr)
    assert (root / SUMMARY).read_bytes() == before
