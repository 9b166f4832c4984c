"""Audit check `labels`: the label audit's summary file, judged with the spec's severity; and the
"warn" status a check may end in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pedigree.api.audit import audit
from pedigree.audit.labels import RUN, check_labels
from pedigree.audit.model import SHOWN, AuditReport, CheckResult, Finding
from tests.unit.audit.conftest import build, spec_text

SUMMARY = "reports/label_issues.json"
PLACEHOLDER = {
    "images": 0,
    "note": "no label audit yet: run `pedigree replicate --folds 5`",
    "schema": "pedigree.label-issues/v1",
}
FLAGGED = [f"img-{n}" for n in range(7)]  # worst first


def issues(flagged: list[str], images: int = 40) -> dict[str, Any]:
    """A label audit's summary file; the first three flagged images have a score."""
    worst = [
        {"id": image, "score": 0.9 - n / 10, "wrong_pixel_fraction": 0.5 - n / 10}
        for n, image in enumerate(flagged[:3])
    ]
    return {
        "schema": "pedigree.label-issues/v1",
        "images": images,
        "threshold": 0.05,
        "flagged": flagged,
        "worst": worst,
    }


def write(root: Path, doc: object, rel: str = SUMMARY) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_no_label_audit_declared_is_a_skip(tmp_path: Path) -> None:
    result = check_labels(tmp_path, None, "warn")
    assert result.status == "skip" and result.ok and not result.findings
    assert "declares no label audit (spec.replicate.folds.labels)" in result.summary
    assert result.skipped is not None and "declare one" in result.skipped


def test_the_placeholder_file_is_a_skip_saying_how_to_fill_it(tmp_path: Path) -> None:
    write(tmp_path, PLACEHOLDER)
    result = check_labels(tmp_path, SUMMARY, "fail")
    assert result.status == "skip" and result.ok
    assert result.summary == f"{SUMMARY}: no label audit yet"
    assert result.skipped == RUN == "run `pedigree replicate --folds 5`"
    assert result.to_dict()["fix"] == RUN


def test_a_file_without_a_flagged_list_is_a_skip(tmp_path: Path) -> None:
    write(tmp_path, {"images": 12, "threshold": 0.05})
    assert check_labels(tmp_path, SUMMARY, "fail").status == "skip"


def test_nothing_flagged_passes(tmp_path: Path) -> None:
    write(tmp_path, issues([]))
    result = check_labels(tmp_path, SUMMARY, "fail")
    assert result.status == "pass" and result.ok and not result.findings
    assert result.summary == f"no likely label error among 40 images ({SUMMARY})"


def test_flagged_images_warn_by_default(tmp_path: Path) -> None:
    write(tmp_path, issues(FLAGGED))
    result = check_labels(tmp_path, SUMMARY, "warn")
    assert result.status == "warn" and result.ok
    assert result.summary == "7 of 40 image(s) flagged above the threshold 0.05"
    assert len(result.findings) == SHOWN + 1 == 6
    messages = [f.message for f in result.findings]
    assert messages == [
        "image img-0 looks mislabelled (about 50% of its pixels)",
        "image img-1 looks mislabelled (about 40% of its pixels)",
        "image img-2 looks mislabelled (about 30% of its pixels)",
        "image img-3 looks mislabelled",
        "image img-4 looks mislabelled",
        "2 more image(s) look mislabelled",
    ]
    assert all(f.where == SUMMARY for f in result.findings)
    assert "reports/label_issues.csv" in result.findings[0].fix
    doc = result.to_dict()
    assert doc["status"] == "warn" and doc["ok"] is True and len(doc["findings"]) == 6
    report = AuditReport(tmp_path, (result,))
    assert report.ok and report.warned == ("labels",) and report.failed == ()


def test_few_flagged_images_are_all_named(tmp_path: Path) -> None:
    write(tmp_path, issues(FLAGGED[:SHOWN]))
    result = check_labels(tmp_path, SUMMARY, "warn")
    assert len(result.findings) == SHOWN
    assert not any("more image" in f.message for f in result.findings)


def test_flagged_images_fail_with_severity_fail(tmp_path: Path) -> None:
    write(tmp_path, issues(FLAGGED))
    result = check_labels(tmp_path, SUMMARY, "fail")
    assert result.status == "fail" and not result.ok and len(result.findings) == 6
    assert "threshold 0.05" in result.summary
    report = AuditReport(tmp_path, (result,))
    assert not report.ok and report.failed == ("labels",) and report.warned == ()


@pytest.mark.parametrize("content", [None, "{not json", "[1, 2]", ""])
def test_an_unreadable_file_fails(tmp_path: Path, content: str | None) -> None:
    if content is not None:
        (tmp_path / "reports").mkdir()
        (tmp_path / SUMMARY).write_text(content, encoding="utf-8")
    for severity in ("warn", "fail"):  # unreadable is a failure whatever the severity
        result = check_labels(tmp_path, SUMMARY, severity)
        assert result.status == "fail" and not result.ok
        assert result.summary == f"{SUMMARY} is missing or not JSON"
        assert [f.message for f in result.findings] == [f"{SUMMARY} is unreadable"]
        assert "restore it from git" in result.findings[0].fix


# --- the "warn" status and the report ---------------------------------------------------------

FINDING = Finding("something", "here", "fix it")


def test_a_check_warns_only_with_findings_and_severity_warn() -> None:
    assert CheckResult("c", "s").status == "pass"
    assert CheckResult("c", "s", severity="warn").status == "pass"
    assert CheckResult("c", "s", (FINDING,)).status == "fail"
    warned = CheckResult("c", "s", (FINDING,), severity="warn")
    assert warned.status == "warn" and warned.ok
    assert warned.to_dict() == {
        "name": "c",
        "ok": True,
        "status": "warn",
        "summary": "s",
        "findings": [{"message": "something", "where": "here", "fix": "fix it"}],
    }
    assert CheckResult("c", "s", (), "how", severity="warn").status == "skip"


def test_the_report_lists_the_checks_that_warned(tmp_path: Path) -> None:
    report = AuditReport(
        tmp_path,
        (
            CheckResult("passed", "ok"),
            CheckResult("labels", "7 flagged", (FINDING,), severity="warn"),
            CheckResult("other", "also", (FINDING,), severity="warn"),
            CheckResult("skipped", "n/a", (), "enable it"),
        ),
    )
    assert report.ok and report.failed == () and report.skipped == ("skipped",)
    assert report.warned == ("labels", "other")
    doc = report.to_dict()
    assert doc["ok"] is True and doc["warned"] == ["labels", "other"] and doc["failed"] == []
    assert [c["status"] for c in doc["checks"]] == ["pass", "warn", "warn", "skip"]
    broken = AuditReport(tmp_path, (*report.checks, CheckResult("bad", "no", (FINDING,))))
    assert not broken.ok and broken.failed == ("bad",)
    assert broken.to_dict()["warned"] == ["labels", "other"]
    assert AuditReport(tmp_path).to_dict()["warned"] == []


# --- through `pedigree audit` ----------------------------------------------------------------

REPLICATE = """\
  replicate:
    stages: [transform]
    seed: transform.seed
    folds:
      assignment: transform.split.groups
      heldOut: test
      predictions: data/prepared/predictions
      labels:
        cmd: [python, -m, stages.labels]
        outs: [audits/label_issues.csv, audits/label_issues.json]
        summary: audits/label_issues.json
        severity: {severity}
"""


def test_audit_skips_labels_when_the_spec_declares_none(audited: Path) -> None:
    result = audit(audited, only="labels").check("labels")
    assert result.status == "skip" and "declares no label audit" in result.summary


@pytest.mark.parametrize(("severity", "ok"), [("warn", True), ("fail", False)])
def test_audit_judges_the_declared_summary_with_its_severity(
    tmp_path: Path, severity: str, ok: bool
) -> None:
    root = build(tmp_path / "proj", spec_text() + REPLICATE.format(severity=severity))
    missing = audit(root, only="labels").check("labels")  # declared, but no file
    assert missing.status == "fail" and "is missing or not JSON" in missing.summary
    write(root, PLACEHOLDER, "audits/label_issues.json")
    assert audit(root, only="labels").check("labels").status == "skip"
    write(root, issues(FLAGGED), "audits/label_issues.json")
    report = audit(root, only="labels")
    assert report.check("labels").status == severity and report.ok is ok
    assert report.to_dict()["warned"] == (["labels"] if ok else [])
    assert report.check("labels").findings[0].where == "audits/label_issues.json"
