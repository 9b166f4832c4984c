"""Evaluate and release through real DVC and git: report, DVC metrics, the gate, the registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import ALL_STAGES, BIN, pedigree, run_outcomes, set_params, sh

pytestmark = pytest.mark.integration

REPORT_FILES = (
    "evaluation.ipynb",
    "evaluation.html",
    "evaluation.json",
    "evaluation_result.csv",
    "metrics.json",
)
SECTIONS = (
    "Evaluation report",
    "Segmentation metrics",
    "Confusion matrix",
    "Calibration",
    "Predictions",
    "Training curves",
    "Hyperparameters",
    "Provenance",
)


def only(*ran: str) -> dict[str, str]:
    return {stage: "ran" if stage in ran else "skipped" for stage in ALL_STAGES}


def release_doc(root: Path) -> dict:
    return json.loads((root / "models" / "release" / "release.json").read_text(encoding="utf-8"))


def served_sha(root: Path) -> str:
    docs = list(yaml.safe_load_all((root / "cluster-conf" / "serving" / "pets.yaml").read_text()))
    deployment = next(d for d in docs if d and d["kind"] == "Deployment")
    return deployment["metadata"]["annotations"]["pedigree.dev/model-sha256"]


def models_json(root: Path, *args: str) -> dict:
    return json.loads(pedigree(root, "models", *args, "--json").stdout)


def test_the_run_writes_a_report_and_a_first_release(ran_project: Path) -> None:
    reports = ran_project / "reports"
    for name in REPORT_FILES:
        assert (reports / name).is_file(), name
    html = (reports / "evaluation.html").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert section in html, section
    assert html.count("data:image/png;base64,") >= 4
    evaluation = json.loads((reports / "evaluation.json").read_text(encoding="utf-8"))
    release = release_doc(ran_project)
    assert release["decision"] == "promoted" and release["version"] == 1
    assert release["model_sha256"] == evaluation["model"]["sha256"]
    assert served_sha(ran_project) == release["model_sha256"]
    # the registry records the model by its hashes (it stays a DVC output), with its lineage
    # from dvc.lock, in event files under registry/pets
    (version,) = models_json(ran_project, "list")["versions"]
    assert version["status"] == "champion"
    assert set(version["lineage"]) == {
        "ingest",
        "transform",
        "tune",
        "train",
        "calibrate",
        "evaluate",
    }
    assert version["test_split_sha256"] == evaluation["test_split"]["sha256"]


def test_dvc_metrics_show_lists_the_evaluation(ran_project: Path) -> None:
    shown = sh(ran_project, str(BIN / "dvc"), "metrics", "show", "--json").stdout
    files = json.loads(shown)[""]["data"]
    metrics = files["reports/metrics.json"]["data"]
    assert 0.0 <= metrics["mean_iou"] <= 1.0
    assert set(metrics["ece"]) == {"original", "calibrated"}
    text = sh(ran_project, str(BIN / "dvc"), "metrics", "show").stdout
    assert "reports/metrics.json" in text and "mean_iou" in text


def test_a_new_model_meets_the_gate_and_a_promotion_can_be_rolled_back(ran_project: Path) -> None:
    first = release_doc(ran_project)
    set_params(ran_project, {"train": {"epochs": 3}, "release": {"margin": 0.0}})
    assert run_outcomes(ran_project) == only("train", "calibrate", "evaluate", "release")
    second = release_doc(ran_project)
    assert second["version"] == 2 and second["model_sha256"] != first["model_sha256"]
    assert second["champion_before"]["version"] == 1
    assert second["decision"] in ("promoted", "rejected")
    assert any(r["check"] == "champion/challenger" for r in second["reasons"])
    # `dvc metrics diff` compares the new evaluation with the committed one
    diff = json.loads(sh(ran_project, str(BIN / "dvc"), "metrics", "diff", "--json").stdout)
    assert "reports/metrics.json" in diff

    if second["decision"] == "rejected":  # then a person overrides the gate
        pedigree(ran_project, "models", "promote", "2", "--reason", "reviewed by hand")
    assert served_sha(ran_project) == second["model_sha256"]
    rolled = models_json(ran_project, "rollback", "--reason", "bad in production")
    assert rolled["action"] == "rollback"
    assert rolled["champion_before"]["version"] == 2
    assert rolled["champion_after"]["version"] == 1
    assert served_sha(ran_project) == first["model_sha256"]
    # the registry (a dep of release) changed: release re-runs, finds its decisions in the
    # log, writes no event and never re-promotes v2; then nothing re-runs
    events = sorted((ran_project / "registry" / "pets" / "events").iterdir())
    release_json = (ran_project / "models" / "release" / "release.json").read_bytes()
    assert run_outcomes(ran_project) == only("release")
    assert sorted((ran_project / "registry" / "pets" / "events").iterdir()) == events
    assert (ran_project / "models" / "release" / "release.json").read_bytes() == release_json
    assert served_sha(ran_project) == first["model_sha256"]
    assert run_outcomes(ran_project) == only()
    listing = models_json(ran_project, "list")
    statuses = {v["version"]: v["status"] for v in listing["versions"]}
    assert statuses == {1: "champion", 2: "rolled-back"}


def test_a_report_failure_keeps_the_previous_decision(ran_project: Path) -> None:
    before = release_doc(ran_project)
    # An input evaluate refuses while it runs (bad params are refused before anything runs).
    summary = ran_project / "replicates" / "summary.json"
    summary.write_text("{not json", encoding="utf-8")
    result = pedigree(ran_project, "run", check=False)
    assert result.returncode == 1
    assert "stage 'evaluate' failed" in result.stderr
    assert "replicates/summary.json is not valid JSON" in result.stderr
    assert release_doc(ran_project) == before
    assert models_json(ran_project, "list")["champion"] == 1
