"""Check (b), split leakage: animals and image contents in two splits, and records that disagree."""

from __future__ import annotations

from pathlib import Path

from pedigree.audit.model import CheckResult
from pedigree.audit.prepared import load_prepared
from pedigree.audit.splits import check_splits
from tests.unit.audit.conftest import (
    LAYOUT,
    SAMPLES,
    image_sha,
    read_provenance,
    rewrite_json,
    write_prepared,
    write_provenance,
)

PROVENANCE = "data/prepared/provenance.jsonl"


def audit_splits(root: Path) -> CheckResult:
    return check_splits(root, LAYOUT, load_prepared(root, LAYOUT))


def messages(result: CheckResult) -> list[str]:
    return [f"{f.where}: {f.message}" for f in result.findings]


def test_clean_prepared_data_passes(tmp_path: Path) -> None:
    write_prepared(tmp_path / "data" / "prepared")
    result = audit_splits(tmp_path)
    assert result.ok, messages(result)
    assert "9 samples, 8 animal ids: train 3, validation 2, calibration 2, test 2" in result.summary


def test_an_animal_in_train_and_test_is_named_with_its_samples(tmp_path: Path) -> None:
    planted = (*SAMPLES, ("dog_9", "a1", "test"))  # animal a1 is a train animal
    write_prepared(tmp_path / "data" / "prepared", planted)
    result = audit_splits(tmp_path)
    assert not result.ok
    assert messages(result) == [
        f"{PROVENANCE}: 1 animal id(s) in more than one split: "
        "'a1' (train: cat_1, cat_2; test: dog_9)",
        "data/prepared/splits.json: 1 animal id(s) listed in more than one split: "
        "'a1' (train, test)",
    ]
    assert "re-run transform" in result.findings[0].fix


def test_identical_image_content_in_two_splits_is_caught(tmp_path: Path) -> None:
    same = {"dog_4": image_sha("dog_2")}  # a test image with the bytes of a validation image
    write_prepared(tmp_path / "data" / "prepared", shas=same)
    result = audit_splits(tmp_path)
    (finding,) = result.findings
    assert finding.message == (
        "1 identical image(s) (same sha256 of the image bytes) in more than one split: "
        f"'{image_sha('dog_2')[:12]}...' (validation: dog_2; test: dog_4)"
    )
    assert "remove the duplicates" in finding.fix


def test_many_leaks_are_listed_first_few_and_counted(tmp_path: Path) -> None:
    planted = SAMPLES + tuple((f"x_{n}", f"z{n}", s) for n in range(7) for s in ("train", "test"))
    write_prepared(tmp_path / "data" / "prepared", planted)
    finding = audit_splits(tmp_path).findings[0]
    assert finding.message.startswith("7 animal id(s) in more than one split: 'z0' (")
    assert finding.message.endswith("... (7 in all)")


def test_a_leak_planted_in_provenance_only_is_caught_and_the_records_disagree(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "data" / "prepared"
    write_prepared(folder)
    rows = read_provenance(folder / "provenance.jsonl")
    rows[0]["animal_id"] = "a8"  # cat_1 (train) now claims a test animal
    write_provenance(folder / "provenance.jsonl", rows)
    assert messages(audit_splits(tmp_path)) == [
        f"{PROVENANCE}: 1 animal id(s) in more than one split: 'a8' (train: cat_1; test: dog_5)",
        f"data/prepared/splits.json: train animals disagree: only in {PROVENANCE}: a8",
    ]


def test_a_leak_planted_in_splits_json_only_is_caught(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "prepared"
    write_prepared(folder)
    rewrite_json(folder / "splits.json", lambda d: d["splits"]["test"]["images"].append("cat_1"))
    assert messages(audit_splits(tmp_path)) == [
        "data/prepared/splits.json: 1 image id(s) listed in more than one split: "
        "'cat_1' (train, test)",
        "data/prepared/splits.json: test images disagree: only in data/prepared/splits.json: cat_1",
    ]


def test_index_files_are_cross_checked(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "prepared"
    write_prepared(folder)
    rewrite_json(folder / "validation" / "index.json", lambda d: d.update(count=5))
    (folder / "test" / "shard-00000.tfrecord").unlink()
    assert messages(audit_splits(tmp_path)) == [
        "data/prepared/validation/index.json: data/prepared/validation/index.json counts 5 "
        f"samples but {PROVENANCE} lists 2 in validation",
        "data/prepared/test/index.json: shard(s) listed but missing: test/shard-00000.tfrecord",
    ]


def test_unreadable_records_fail_the_check(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "prepared"
    write_prepared(folder)
    with (folder / "provenance.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"id": "broken"\n{"id": "no-animal", "split": "train"}\n')
    (folder / "splits.json").unlink()
    result = audit_splits(tmp_path)
    found = messages(result)
    assert f"{PROVENANCE}:10: line 10: not valid JSON (Expecting ',' delimiter)" in found
    assert (
        f"{PROVENANCE}:11: line 11: missing or empty animal_id, "
        "source.sha256 (or source.image_sha256), shard" in found
    )
    assert "data/prepared/splits.json: data/prepared/splits.json is missing" in found
    assert "pedigree run --stage transform --force" in result.findings[0].fix


def test_missing_prepared_data_fails(tmp_path: Path) -> None:
    result = audit_splits(tmp_path)
    assert not result.ok
    assert f"{PROVENANCE}: {PROVENANCE} is missing" in messages(result)
