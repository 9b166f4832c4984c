"""`pedigree replicate` on a real (tiny) project: seeds, reuse, the report, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import BIN, pedigree, run_outcomes, set_params, sh

pytestmark = pytest.mark.integration

SUMMARY = Path("replicates") / "summary.json"
SCRATCH = Path(".pedigree") / "replicate"
# Two seeds train, calibrate and evaluate: longer than one stage on two shared cores.
REPLICATE_TIMEOUT = 1200


def replicate(root: Path, *args: str) -> str:
    """`pedigree replicate ARGS` in the project; its stdout (it must succeed)."""
    return sh(root, str(BIN / "pedigree"), "replicate", *args, timeout=REPLICATE_TIMEOUT).stdout


def lock(root: Path) -> dict:
    return yaml.safe_load((root / "dvc.lock").read_text(encoding="utf-8"))["stages"]


def by_path(items: list[dict]) -> dict[str, str]:
    return {item["path"]: item["md5"] for item in items}


def test_two_seeds_reuse_and_the_report_shows_the_spread(ran_project: Path) -> None:
    root = ran_project
    model = (root / "models" / "model.keras").read_bytes()
    lock_before = (root / "dvc.lock").read_bytes()
    result = json.loads(replicate(root, "--seeds", "1,2", "--json"))
    summary = json.loads((root / SUMMARY).read_text(encoding="utf-8"))
    assert result["summary"] == summary and result["changed"] is True
    assert summary["seeds"] == [1, 2] and [r["seed"] for r in summary["runs"]] == [1, 2]
    assert summary["std"] == "sample standard deviation (n - 1)"
    for seed in result["seeds"]:
        assert [(s["stage"], s["outcome"]) for s in seed["stages"]] == [
            ("train", "ran"),
            ("calibrate", "ran"),
            ("evaluate", "ran"),
        ]
    for key in (
        "mean_iou",
        "mean_dice",
        "pixel_accuracy",
        "iou.pet",
        "ece.calibrated",
        "nll.original",
    ):
        spread = summary["metrics"][key]
        values = [run["metrics"][key] for run in summary["runs"]]
        assert spread["n"] == 2 and spread["std"] is not None and spread["std"] >= 0
        assert spread["min"] == min(values) and spread["max"] == max(values)
        assert spread["range"] == pytest.approx(max(values) - min(values), abs=2e-6)
    # what they replicate: the upstream as dvc.lock records it, params without the seed
    stages = lock(root)
    what = summary["replicates"]
    assert (
        what["upstream"]["data/prepared"] == by_path(stages["transform"]["outs"])["data/prepared"]
    )
    assert what["upstream"]["models/tune"] == by_path(stages["tune"]["outs"])["models/tune"]
    best = "models/tune/best_params.json"
    assert what["inputs"][best] == by_path(stages["train"]["deps"])[best]
    assert what["code"]["stages/train"] == by_path(stages["train"]["deps"])["stages/train"]
    assert "seed" not in what["params"]["determinism"] and "train" in what["params"]
    # each seed ran in its workspace, with its seed, leaving a lineage record there
    for seed in (1, 2):
        record = json.loads(
            (root / SCRATCH / f"seed-{seed}" / "lineage" / "train.json").read_text()
        )
        assert record["params"]["determinism"]["seed"] == seed
    # the user's workspace is untouched: only the summary changed
    assert (root / "models" / "model.keras").read_bytes() == model
    assert (root / "dvc.lock").read_bytes() == lock_before
    changed = sh(root, "git", "status", "--porcelain").stdout.splitlines()
    assert changed == [" M replicates/summary.json"], changed

    again = replicate(root, "--seeds", "1,2")
    assert "reused 2 of 2 runs (seed 1, seed 2)" in again and "unchanged:" in again
    assert again.count("reused (up to date in its workspace)") == 6
    header = next(line for line in again.splitlines() if line.startswith("metric"))
    assert header.split() == ["metric", "mean", "std", "min", "max", "range"]
    assert any(line.startswith("mean_iou ") for line in again.splitlines())
    assert json.loads((root / SUMMARY).read_text(encoding="utf-8")) == summary

    # the summary is evaluate's input: only evaluate re-runs, and the report shows the spread
    outcomes = run_outcomes(root)
    assert outcomes["evaluate"] == "ran", outcomes
    assert {outcomes[s] for s in ("ingest", "transform", "tune", "train", "calibrate")} == {
        "skipped"
    }
    assert outcomes["release"] == "skipped"  # evaluation.json did not change
    html = (root / "reports" / "evaluation.html").read_text(encoding="utf-8")
    assert "Replicates" in html and "this model (seed 1234)" in html
    assert "<td>mean_iou</td>" in html and "determinism.seed = 1, 2" in html
    assert "stale" not in html and "No replicate results" not in html


def test_bad_seeds_are_refused(ran_project: Path) -> None:
    cases = {
        "a,b": "error: --seeds: 'a' is not a seed (a whole number from 0 to 2147483647)",
        "": "error: --seeds is empty",
        "1,2,1": "error: --seeds: seed 1 is given twice",
    }
    for seeds, message in cases.items():
        done = pedigree(ran_project, "replicate", "--seeds", seeds, check=False)
        assert done.returncode == 2, (seeds, done.stderr)
        assert message in done.stderr and "hint: give two or more" in done.stderr, done.stderr
    assert not (ran_project / SCRATCH).exists()


def test_stale_upstream_is_refused(ran_project: Path) -> None:
    before = (ran_project / SUMMARY).read_bytes()
    set_params(ran_project, {"transform": {"shard_size": 4}})
    done = pedigree(ran_project, "replicate", "--seeds", "1,2", check=False)
    assert done.returncode == 3, done.stderr
    assert "stale upstream outputs (transform: params changed: transform.shard_size" in done.stderr
    assert "hint: run `pedigree run` first" in done.stderr
    assert (ran_project / SUMMARY).read_bytes() == before
    assert not (ran_project / SCRATCH).exists()


def test_changed_upstream_output_is_refused(ran_project: Path) -> None:
    (ran_project / "data" / "prepared" / "stray.txt").write_text("x", encoding="utf-8")
    done = pedigree(ran_project, "replicate", "--seeds", "1,2", "--json", check=False)
    assert done.returncode == 3, done.stderr
    error = json.loads(done.stdout)
    assert "transform" in error["error"] and "data/prepared" in error["error"]
    assert "pedigree run" in error["hint"]
