"""The label audit runner of `pedigree replicate --folds`: a stand-in command over the runs'
predictions, its workspace, reuse, and its outputs copied into the project."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from pedigree.errors import StageFailedError
from pedigree.replicate.labels import PREDICTIONS, run_label_audit
from pedigree.replicate.upstream import FoldSetup, Plan, ReplicateError
from pedigree.spec.replication import Folds
from tests.unit.replicate.test_replicate_workspace import make_plan, make_root

# Lists the runs it was given and what their predictions hold; flags every run name.
SCRIPT = """
import json, pathlib, sys
runs = sorted(p.name for p in pathlib.Path("predictions").iterdir())
text = "".join(
    (pathlib.Path("predictions") / r / "p.txt").read_text() for r in runs
)
out = pathlib.Path("reports"); out.mkdir(exist_ok=True)
prov = pathlib.Path("data/prepared/provenance.jsonl").read_text()
(out / "li.csv").write_text("id\\n" + "".join(f"{r}\\n" for r in runs) + text + prov)
(out / "li.json").write_text(json.dumps({"images": len(runs), "flagged": runs}))
"""


def _plan(
    root: Path, cmd: list[str], outs: tuple[str, ...] = ("reports/li.csv", "reports/li.json")
) -> Plan:
    folds = Folds.model_validate(
        {
            "assignment": "transform.split.groups",
            "heldOut": "test",
            "predictions": "reports/predictions",
            "labels": {"cmd": cmd, "outs": list(outs), "summary": "reports/li.json"},
        }
    )
    (root / "stages" / "fake_labels.py").write_text(SCRIPT, encoding="utf-8")
    setup = FoldSetup(
        folds, "transform", "animal_id", "train", "data/prepared/provenance.jsonl", "test"
    )
    (root / "data" / "prepared" / "provenance.jsonl").write_text('{"id": "a"}\n')
    return replace(make_plan(root), folds=setup)


def _runs(root: Path, *names: str) -> dict[str, Path]:
    found = {}
    for name in names:
        ws = root / ".pedigree" / "replicate" / name
        (ws / "reports" / "predictions").mkdir(parents=True, exist_ok=True)
        (ws / "reports" / "predictions" / "p.txt").write_text(f"{name} predicted\n")
        found[name] = ws
    return found


def test_runs_then_reuses_then_follows_a_changed_prediction(tmp_path: Path) -> None:
    root = make_root(tmp_path / "p")
    plan = _plan(root, ["python", "stages/fake_labels.py"])
    runs = _runs(root, "fold-0-seed-1", "fold-1-seed-1")
    first = run_label_audit(plan, runs, "labels: {threshold: 0.04}\n")
    assert (first.outcome, first.images, first.flagged) == ("ran", 2, 2)
    assert json.loads((root / "reports" / "li.json").read_text())["flagged"] == sorted(runs)
    csv = (root / "reports" / "li.csv").read_text()
    assert "fold-0-seed-1 predicted" in csv and '{"id": "a"}' in csv
    ws = first.workspace
    assert (ws / "params.yaml").read_text() == "labels: {threshold: 0.04}\n"
    assert sorted(p.name for p in (ws / PREDICTIONS).iterdir()) == sorted(runs)
    again = run_label_audit(plan, runs, "labels: {threshold: 0.04}\n")
    assert again.outcome == "reused"
    (runs["fold-1-seed-1"] / "reports" / "predictions" / "p.txt").write_text("changed\n")
    changed = run_label_audit(plan, runs, "labels: {threshold: 0.04}\n")
    assert changed.outcome == "ran" and "changed" in (root / "reports" / "li.csv").read_text()
    fewer = run_label_audit(plan, {"fold-0-seed-1": runs["fold-0-seed-1"]}, "x: 1\n")
    assert fewer.outcome == "ran" and fewer.images == 1  # a stale run's folder is gone
    assert sorted(p.name for p in (ws / PREDICTIONS).iterdir()) == ["fold-0-seed-1"]


def test_failures_name_the_cause_and_leave_the_project_files(tmp_path: Path) -> None:
    root = make_root(tmp_path / "p")
    runs = _runs(root, "fold-0-seed-1")
    failing = _plan(root, ["python", "-c", "print('no cleanlab here'); raise SystemExit(4)"])
    with pytest.raises(StageFailedError, match=r"the label audit failed \(exit 4\)") as info:
        run_label_audit(failing, runs, "x: 1\n")
    assert "no cleanlab here" in info.value.log_tail
    assert not (root / "reports" / "li.json").exists()
    silent = _plan(root, ["python", "-c", "pass"])
    with pytest.raises(StageFailedError, match=r"succeeded but wrote no reports/li.csv"):
        run_label_audit(silent, runs, "x: 1\n")
    (runs["fold-0-seed-1"] / "reports" / "predictions" / "p.txt").unlink()
    (runs["fold-0-seed-1"] / "reports" / "predictions").rmdir()
    with pytest.raises(ReplicateError, match=r"fold-0-seed-1: reports/predictions is missing"):
        run_label_audit(_plan(root, ["python", "stages/fake_labels.py"]), runs, "x: 1\n")
