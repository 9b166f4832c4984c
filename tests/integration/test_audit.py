"""`pedigree audit` on a real run: it passes, and catches each planted violation.

Each test plants one violation in a private copy of the ran tiny project and checks that the
right check fails with the right message and that the command exits 1.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import pedigree

pytestmark = pytest.mark.integration

PREPARED = Path("data") / "prepared"


def audit_json(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = pedigree(root, "audit", "--json", *args, check=False)
    return result.returncode, json.loads(result.stdout)


def findings(doc: dict[str, Any], name: str) -> list[str]:
    check = next(c for c in doc["checks"] if c["name"] == name)
    return [f"{f['where']}: {f['message']}" for f in check["findings"]]


def provenance(root: Path) -> list[dict[str, Any]]:
    text = (root / PREPARED / "provenance.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_a_real_run_passes_every_check(ran_project: Path) -> None:
    result = pedigree(ran_project, "audit")
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:4]] == [
        "PASS graph-hygiene",
        "PASS split-leakage",
        "PASS normalization",
        "PASS lineage-records",
    ], result.stdout
    assert "7 stages in dvc.lock" in lines[3]
    assert lines[4].startswith("PASS champions: 1 champion change: "), result.stdout
    # no fold replicates and no label audit yet: those two say so (SKIP) and do not fail
    assert lines[-1] == "audit passed: 5 of 7 checks (2 could not apply: folds, labels)"


def test_tune_on_all_prepared_data_and_calibrate_on_test_are_caught(ran_project: Path) -> None:
    spec = ran_project / "pipelines" / "pets.yaml"
    text = spec.read_text(encoding="utf-8")
    tune = "deps: [data/prepared/train, data/prepared/validation, data/prepared/stats.json]"
    calibrate = "deps: [data/prepared/calibration, data/prepared/stats.json, models/model.keras]"
    assert tune in text and calibrate in text
    text = text.replace(tune, "deps: [data/prepared]").replace(
        calibrate, "deps: [data/prepared/calibration, data/prepared/test, models/model.keras]"
    )
    spec.write_text(text, encoding="utf-8")
    pedigree(ran_project, "compile")
    code, doc = audit_json(ran_project)
    assert code == 1
    assert doc["failed"] == ["graph-hygiene"]
    found = findings(doc, "graph-hygiene")
    assert len(found) == 2, found
    assert found[0].startswith(
        "pipelines/pets.yaml, dvc.yaml: stage 'tune' depends on 'data/prepared': it holds the "
        "calibration split (data/prepared/calibration)"
    )
    assert "the test split (data/prepared/test), which may reach only evaluate" in found[0]
    assert found[1] == (
        "pipelines/pets.yaml, dvc.yaml: stage 'calibrate' depends on 'data/prepared/test': it "
        "holds the test split (data/prepared/test), which may reach only evaluate"
    )


def test_an_animal_and_an_image_in_two_splits_are_caught(ran_project: Path) -> None:
    rows = provenance(ran_project)
    train = next(r for r in rows if r["split"] == "train")
    test = [r for r in rows if r["split"] == "test"]
    validation = next(r for r in rows if r["split"] == "validation")
    train["animal_id"] = test[0]["animal_id"]  # a test animal also in train
    validation["source"]["image_sha256"] = test[-1]["source"]["image_sha256"]  # same bytes
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    (ran_project / PREPARED / "provenance.jsonl").write_text(text, encoding="utf-8")
    code, doc = audit_json(ran_project)
    assert code == 1
    assert "split-leakage" in doc["failed"]
    found = findings(doc, "split-leakage")
    where = "data/prepared/provenance.jsonl"
    assert found[0].startswith(
        f"{where}: 1 animal id(s) in more than one split: '{test[0]['animal_id']}' "
        f"(train: {train['id']}; test: "
    )
    sha = test[-1]["source"]["image_sha256"][:12]
    assert found[1] == (
        f"{where}: 1 identical image(s) (same sha256 of the image bytes) in more than one "
        f"split: '{sha}...' (validation: {validation['id']}; test: {test[-1]['id']})"
    )
    # editing the prepared data also changed it under dvc.lock: the lineage check sees that
    assert any("output data/prepared has changed" in m for m in findings(doc, "lineage-records"))


def test_statistics_from_another_split_are_caught(ran_project: Path) -> None:
    path = ran_project / PREPARED / "stats.json"
    stats = json.loads(path.read_text(encoding="utf-8"))
    validation = sorted(r["id"] for r in provenance(ran_project) if r["split"] == "validation")
    train_count = stats["count_images"]
    height, width = stats["image_size"]
    ids_text = "".join(f"{i}\n" for i in validation)
    stats.update(
        split="validation",
        count_images=len(validation),
        count_pixels=len(validation) * height * width,
        samples_sha256=hashlib.sha256(ids_text.encode()).hexdigest(),
    )
    path.write_text(json.dumps(stats), encoding="utf-8")
    code, doc = audit_json(ran_project, "--check", "normalization")
    assert code == 1
    where = "data/prepared/stats.json"
    assert findings(doc, "normalization") == [
        f"{where}: stats.json says it was computed on the 'validation' split, not 'train'",
        f"{where}: stats.json counts {len(validation)} images but the train split holds "
        f"{train_count} (data/prepared/provenance.jsonl)",
        f"{where}: stats.json was computed on other samples than the train split's "
        f"(samples_sha256 {stats['samples_sha256'][:12]}... differs): they are the validation "
        "split's",
    ]


def test_a_deleted_record_and_a_record_disagreeing_with_dvc_lock_are_caught(
    ran_project: Path,
) -> None:
    (ran_project / "lineage" / "train.json").unlink()
    record_path = ran_project / "lineage" / "calibrate.json"
    record = json.loads(record_path.read_text(encoding="utf-8"))
    out = record["outputs"][0]
    real = out["md5"]
    out["md5"] = "0" * 32
    record_path.write_text(json.dumps(record), encoding="utf-8")
    result = pedigree(ran_project, "audit", check=False)
    assert result.returncode == 1
    assert "FAIL lineage-records:" in result.stdout
    assert "PASS split-leakage:" in result.stdout
    assert (
        "  - lineage/train.json: stage 'train' has outputs in dvc.lock but no lineage record"
        in result.stdout
    )
    assert (
        f"  - lineage/calibrate.json vs dvc.lock: stage 'calibrate': output {out['path']}: "
        f"record has {'0' * 32}, dvc.lock has {real}"
    ) in result.stdout
    assert result.stdout.splitlines()[-1] == "audit failed: 1 of 7 checks (lineage-records)"
