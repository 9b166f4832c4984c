"""Pets with every stage renamed and its outputs moved: pedigree knows nothing of the old names.

The library learns the data roles (which stage writes the splits, where, who may read them) and
what replicate re-runs from the spec's `data` and `replicate` sections, never from stage names.
This test renames every stage (spec, stages/<name>/, images/<name>/ and the stage code's imports
of its own package), moves data/prepared to data/splits and models/ to out/, and runs the real
pipeline: run, audit (5 of 7 PASS, the fold and label checks SKIP before any fold replicate),
lineage, replicate and serve all work under the new names.
The params sections keep their names: each stage reads its own section by a fixed name.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.integration.conftest import (
    commit_all,
    make_pets_project,
    pedigree,
    run_outcomes,
    sh,
)
from tests.integration.test_replicate import SCRATCH, SUMMARY, replicate

pytestmark = pytest.mark.integration

RENAMED = {
    "ingest": "fetch",
    "transform": "split",
    "tune": "search",
    "train": "fit",
    "calibrate": "temper",
    "evaluate": "assess",
    "release": "ship",
}
MOVED = (("data/prepared", "data/splits"), ("models/", "out/"))


def _move(text: str) -> str:
    for old, new in MOVED:
        text = text.replace(old, new)
    return text


def _stage_module(text: str) -> str:
    """`stages.train` -> `stages.fit` in imports and argv, leaving `stages.common` alone."""
    return re.sub(r"\bstages\.([a-z]+)\b", lambda m: f"stages.{RENAMED.get(m[1], m[1])}", text)


def _rename_spec(doc: dict[str, Any]) -> dict[str, Any]:
    body = doc["spec"]
    for stage in body["stages"]:
        stage["name"] = RENAMED[stage["name"]]
        stage["image"] = f"images/{stage['name']}"
        stage["cmd"] = [_move(_stage_module(item)) for item in stage["cmd"]]
        for field in ("deps", "outs", "metrics", "plots"):
            if field in stage:
                stage[field] = [_move(path) for path in stage[field]]
        if "description" in stage:
            stage["description"] = _move(stage["description"])
    splits = body["data"]["splits"]
    splits["stage"] = RENAMED[splits["stage"]]
    splits["path"] = _move(splits["path"])
    body["data"]["heldOut"] = {
        split: [RENAMED[s] for s in readers] for split, readers in body["data"]["heldOut"].items()
    }
    body["data"]["modelSelection"] = {
        RENAMED[stage]: seen for stage, seen in body["data"]["modelSelection"].items()
    }
    body["replicate"]["stages"] = [RENAMED[s] for s in body["replicate"]["stages"]]
    serve = body["serve"]
    serve["code"] = [_stage_folder(folder) for folder in serve["code"]]
    serve["files"] = {role: _move(path) for role, path in serve["files"].items()}
    return doc


def _md5s(items: list[dict[str, Any]]) -> dict[str, str]:
    """dvc.lock's deps or outs: path -> md5."""
    return {item["path"]: item["md5"] for item in items}


def _stage_folder(folder: str) -> str:
    """`stages/transform` -> `stages/split`; other folders as they are."""
    parent, _, name = folder.rpartition("/")
    return f"{parent}/{RENAMED[name]}" if parent == "stages" and name in RENAMED else folder


def rename_everything(root: Path) -> None:
    """Rename every stage of the pets project at `root` and move its outputs."""
    spec_path = root / "pipelines" / "pets.yaml"
    doc = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    spec_path.write_text(yaml.safe_dump(_rename_spec(doc), sort_keys=False), encoding="utf-8")
    for old, new in RENAMED.items():
        shutil.move(root / "stages" / old, root / "stages" / new)
        shutil.move(root / "images" / old, root / "images" / new)
    # The code (and evaluate's notebook) imports its own package by name.
    for path in (root / "stages").rglob("*"):
        if path.suffix not in (".py", ".ipynb"):
            continue
        text = path.read_text(encoding="utf-8")
        changed = _stage_module(text)
        if changed != text:
            path.write_text(changed, encoding="utf-8")
    for old, _ in MOVED:
        shutil.rmtree(root / old.rstrip("/"), ignore_errors=True)
    (root / "dvc.lock").unlink(missing_ok=True)
    shutil.rmtree(root / "lineage", ignore_errors=True)


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pets project, renamed, after one full `pedigree run`."""
    root = make_pets_project(tmp_path_factory.mktemp("renamed") / "pets")
    rename_everything(root)
    pedigree(root, "compile", "--target", "all")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", "renamed")
    outcomes = run_outcomes(root)
    assert outcomes == dict.fromkeys(RENAMED.values(), "ran"), outcomes
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", "first run")
    return root


def test_nothing_of_the_old_names_is_left(renamed: Path) -> None:
    dvc_yaml = (renamed / "dvc.yaml").read_text(encoding="utf-8")
    for old in RENAMED:
        assert f"\n  {old}:" not in dvc_yaml
        assert not (renamed / "stages" / old).exists()
    assert "data/prepared" not in dvc_yaml and "models/" not in dvc_yaml
    assert (renamed / "data" / "splits" / "test" / "index.json").is_file()
    assert not (renamed / "data" / "prepared").exists()


def test_audit_passes_every_check_under_the_new_names(renamed: Path) -> None:
    result = pedigree(renamed, "audit")
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:4]] == [
        "PASS graph-hygiene",
        "PASS split-leakage",
        "PASS normalization",
        "PASS lineage-records",
    ], result.stdout
    assert "test reaches only assess; calibration reaches only temper, assess" in lines[0]
    assert "search sees only train, validation" in lines[0]
    assert lines[-1] == "audit passed: 5 of 7 checks (2 could not apply: folds, labels)"


def test_audit_catches_a_leak_to_a_renamed_stage(renamed: Path, tmp_path: Path) -> None:
    root = tmp_path / "leaky"
    shutil.copytree(renamed, root, symlinks=True)
    spec_path = root / "pipelines" / "pets.yaml"
    doc = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    search = next(s for s in doc["spec"]["stages"] if s["name"] == "search")
    search["deps"].append("data/splits/test")
    spec_path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    result = pedigree(root, "audit", "--check", "graph-hygiene", "--json", check=False)
    assert result.returncode == 1, result.stdout
    message = json.loads(result.stdout)["checks"][0]["findings"][0]["message"]
    assert message.startswith(
        "stage 'search' depends on 'data/splits/test': it holds the test split "
        "(data/splits/test), which may reach only assess"
    )


def test_lineage_names_the_renamed_producer(renamed: Path) -> None:
    result = pedigree(renamed, "lineage", "data/splits")
    assert result.stdout.startswith("data/splits  made by stage split"), result.stdout


def test_replicate_reruns_the_declared_stages_reuses_them_and_reports_the_spread(
    renamed: Path, tmp_path: Path
) -> None:
    # Only temper and assess per seed (the spec says so): proof that replicate re-runs what the
    # spec declares, not a fixed list, at half the cost of fit, temper and assess. This is also
    # the test of a seed replicate end to end: the summary, reuse, an untouched workspace and
    # the report (tests/integration/test_replicate.py has its refusals).
    root = tmp_path / "replicated"
    shutil.copytree(renamed, root, symlinks=True)
    spec_path = root / "pipelines" / "pets.yaml"
    doc = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    doc["spec"]["replicate"]["stages"] = ["assess", "temper"]  # run in pipeline order anyway
    spec_path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    pedigree(root, "compile", "--target", "dvc")
    commit_all(root, "replicate temper and assess")
    model = (root / "out" / "model.keras").read_bytes()
    lock_before = (root / "dvc.lock").read_bytes()

    result = json.loads(replicate(root, "--seeds", "1,2", "--json"))
    summary = json.loads((root / SUMMARY).read_text(encoding="utf-8"))
    assert result["summary"] == summary and result["changed"] is True
    assert summary["seeds"] == [1, 2] and [r["seed"] for r in summary["runs"]] == [1, 2]
    assert summary["std"] == "sample standard deviation (n - 1)"
    for seed in result["seeds"]:
        assert [(s["stage"], s["outcome"]) for s in seed["stages"]] == [
            ("temper", "ran"),
            ("assess", "ran"),
        ]
    for key in ("mean_iou", "mean_dice", "pixel_accuracy", "iou.pet", "ece.calibrated"):
        spread = summary["metrics"][key]
        values = [run["metrics"][key] for run in summary["runs"]]
        assert spread["n"] == 2 and spread["std"] is not None and spread["std"] >= 0
        assert spread["min"] == min(values) and spread["max"] == max(values)
        assert spread["range"] == pytest.approx(max(values) - min(values), abs=2e-6)
    # what they replicate: the upstream as dvc.lock records it, params without the seed
    what = summary["replicates"]
    assert what["stages"] == ["temper", "assess"]
    stages = yaml.safe_load((root / "dvc.lock").read_text(encoding="utf-8"))["stages"]
    assert what["upstream"]["data/splits"] == _md5s(stages["split"]["outs"])["data/splits"]
    assert what["upstream"]["out/model.keras"] == _md5s(stages["fit"]["outs"])["out/model.keras"]
    assert what["inputs"]["out/model.keras"] == _md5s(stages["temper"]["deps"])["out/model.keras"]
    assert what["code"]["stages/temper"] == _md5s(stages["temper"]["deps"])["stages/temper"]
    assert "seed" not in what["params"]["determinism"] and "calibrate" in what["params"]
    # each seed ran in its workspace, with its seed, leaving a lineage record there
    for seed in (1, 2):
        record = json.loads(
            (root / SCRATCH / f"seed-{seed}" / "lineage" / "temper.json").read_text()
        )
        assert record["params"]["determinism"]["seed"] == seed
    # the user's workspace is untouched: only the summary changed
    assert (root / "out" / "model.keras").read_bytes() == model
    assert (root / "dvc.lock").read_bytes() == lock_before
    changed = sh(root, "git", "status", "--porcelain").stdout.splitlines()
    assert changed == [" M replicates/summary.json"], changed

    again = replicate(root, "--seeds", "1,2")
    assert "reused 2 of 2 runs (seed 1, seed 2)" in again and "unchanged:" in again
    assert again.count("reused (up to date in its workspace)") == 4
    header = next(line for line in again.splitlines() if line.startswith("metric"))
    assert header.split() == ["metric", "mean", "std", "min", "max", "range"]
    assert any(line.startswith("mean_iou ") for line in again.splitlines())
    assert json.loads((root / SUMMARY).read_text(encoding="utf-8")) == summary

    # the summary is assess's input: only assess re-runs, and the report shows the spread
    outcomes = run_outcomes(root)
    assert outcomes["assess"] == "ran", outcomes
    assert {outcomes[s] for s in ("fetch", "split", "search", "fit", "temper")} == {"skipped"}
    assert outcomes["ship"] == "skipped"  # evaluation.json did not change
    html = (root / "reports" / "evaluation.html").read_text(encoding="utf-8")
    assert "Replicates" in html and "this model (seed 1234)" in html
    assert "<td>mean_iou</td>" in html and "determinism.seed = 1, 2" in html
    assert "stale" not in html and "No replicate results" not in html


def test_serve_answers_with_the_renamed_pipelines_model(renamed: Path) -> None:
    """The serve section follows the moved statistics and the renamed code folders."""
    import httpx

    from tests.integration.test_serve import Server, pixel_request

    running = Server(renamed)
    try:
        ready = running.ready()
        with httpx.Client(timeout=60.0) as client:
            response = client.post(
                f"{ready['url']}/infer", json=pixel_request(np.zeros((1, 32, 32, 3), np.uint8))
            )
    finally:
        running.stop()
    assert response.status_code == 200, response.text
    assert response.headers["x-pedigree-model-version"] == "v1"
    assert response.json()["outputs"][0]["shape"] == [1, 32, 32]
    assert sorted(ready["files"]) == ["calibration", "model", "stats"]
