"""Check (d): every dvc.lock stage has a lineage record and every hash agrees."""

from __future__ import annotations

from pathlib import Path

import yaml

from pedigree.audit.model import CheckResult
from pedigree.audit.records import check_records, compare
from pedigree.lineage.store import write_record
from tests.unit.audit.conftest import RUNS, make_record


def messages(result: CheckResult) -> list[str]:
    return [f"{f.where}: {f.message}" for f in result.findings]


def edit_lock(root: Path, change) -> None:  # noqa: ANN001 - a callable editing the stages map
    path = root / "dvc.lock"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data["stages"])
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def test_records_that_match_dvc_lock_and_the_workspace_pass(audited: Path) -> None:
    result = check_records(audited)
    assert result.ok, messages(result)
    assert result.summary.startswith("2 stages in dvc.lock: every record exists and matches its 2")


def test_a_deleted_record_is_a_gap(audited: Path) -> None:
    (audited / "lineage" / "transform.json").unlink()
    result = check_records(audited)
    assert messages(result) == [
        "lineage/transform.json: stage 'transform' has outputs in dvc.lock but no lineage record"
    ]
    assert "(no record: transform)" in result.summary
    assert "git checkout -- lineage/transform.json" in result.findings[0].fix
    assert "pedigree run --stage transform --force" in result.findings[0].fix


def test_an_output_hash_that_disagrees_with_dvc_lock_is_named(audited: Path) -> None:
    lock = yaml.safe_load((audited / "dvc.lock").read_text(encoding="utf-8"))
    real = lock["stages"]["ingest"]["outs"][0]["md5"]
    edit_lock(audited, lambda s: s["ingest"]["outs"][0].update(md5="f" * 32 + ".dir"))
    found = messages(check_records(audited))
    assert (
        f"lineage/ingest.json vs dvc.lock: stage 'ingest': output data/raw: record has {real}, "
        f"dvc.lock has {'f' * 32}.dir"
    ) in found
    # the workspace still holds the recorded bytes, so it disagrees with dvc.lock too
    assert any(m.startswith("data/raw: stage 'ingest': output data/raw has changed") for m in found)


def test_inputs_and_params_are_compared(audited: Path) -> None:
    record = make_record(audited, RUNS[1], params={"transform": {"image_size": [8, 8]}})
    inputs = [record.inputs[0].model_copy(update={"md5": "0" * 32 + ".dir"})]
    write_record(audited, record.model_copy(update={"inputs": inputs}))
    assert messages(check_records(audited)) == [
        f"lineage/transform.json vs dvc.lock: stage 'transform': input data/raw: record has "
        f"{'0' * 32}.dir, dvc.lock has {make_record(audited, RUNS[1]).inputs[0].md5}",
        "lineage/transform.json vs dvc.lock: stage 'transform': params transform: record has "
        "{'image_size': [8, 8]}, dvc.lock has {'image_size': [4, 4]}",
    ]


def test_paths_on_one_side_only_are_reported() -> None:
    assert compare("output", {"a": "1", "b": "2"}, {"b": "2", "c": "3"}) == [
        "output a: in the record (1) but not in dvc.lock",
        "output c: in dvc.lock (3) but not in the record",
    ]


def test_a_missing_workspace_output_says_dvc_checkout(audited: Path) -> None:
    (audited / "data" / "raw" / "manifest.json").unlink()
    (audited / "data" / "raw").rmdir()
    result = check_records(audited)
    (finding,) = result.findings
    assert finding.message == "stage 'ingest': output data/raw is missing from the workspace"
    assert finding.fix == "run `dvc checkout data/raw` to restore it from the cache"


def test_a_changed_workspace_output_is_caught(audited: Path) -> None:
    (audited / "data" / "prepared" / "stats.json").write_text("{}", encoding="utf-8")
    (finding,) = check_records(audited).findings
    assert finding.message.startswith("stage 'transform': output data/prepared has changed")
    assert "dvc checkout data/prepared" in finding.fix


def test_unreadable_failed_and_orphan_records(audited: Path) -> None:
    (audited / "lineage" / "ingest.json").write_text("{not json", encoding="utf-8")
    failed = make_record(audited, RUNS[1], status="failed", exit_code=3)
    (audited / "lineage" / "transform.json").write_text(failed.to_json(), encoding="utf-8")
    orphan = make_record(audited, RUNS[1]).model_copy(update={"stage": "old"})
    write_record(audited, orphan)
    assert messages(check_records(audited)) == [
        "lineage/ingest.json: stage 'ingest': not a valid lineage record (line 1: not valid "
        "JSON: Expecting property name enclosed in double quotes)",
        "lineage/transform.json vs dvc.lock: stage 'transform': the record is of a failed run "
        "(exit code 3)",
        "lineage/old.json: lineage record of stage 'old', which dvc.lock does not list",
    ]


def test_no_dvc_lock_means_nothing_to_audit(audited: Path) -> None:
    (audited / "dvc.lock").unlink()
    result = check_records(audited)
    assert messages(result) == ["dvc.lock: dvc.lock is missing: nothing has run"]
    assert result.findings[0].fix == "run `pedigree run`"
