"""`pedigree audit` through the real CLI entry point: lines, --json, --check and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pedigree.api.audit import CHECKS, audit
from pedigree.cli.main import main
from pedigree.errors import PedigreeError
from tests.unit.audit.conftest import build, rewrite_json, spec_text


def run(root: Path, *args: str) -> int:
    return main(["-C", str(root), "audit", *args])


def test_a_clean_project_passes_with_one_line_per_check(
    audited: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(audited) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[:4]] == [f"PASS {name}" for name in CHECKS[:4]]
    assert lines[4].startswith("SKIP champions: the pipeline has no model registry")
    # no registry, no fold replicates, no label audit in this small project
    assert lines[-1] == (
        "audit passed: 4 of 7 checks (3 could not apply: champions, folds, labels)"
    )


def test_a_failure_exits_1_with_details_and_fix(
    audited: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (audited / "lineage" / "ingest.json").unlink()
    assert run(audited) == 1
    out = capsys.readouterr().out
    assert "FAIL lineage-records: lineage records or outputs disagree with dvc.lock" in out
    assert (
        "  - lineage/ingest.json: stage 'ingest' has outputs in dvc.lock but no lineage record"
        in out
    )
    assert "    fix: restore it from git" in out
    assert "PASS graph-hygiene" in out
    assert out.splitlines()[-1] == "audit failed: 1 of 7 checks (lineage-records)"


def test_json_has_the_same_structure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = build(tmp_path / "p", spec_text(tune="[data/prepared]"))
    rewrite_json(root / "data" / "prepared" / "stats.json", lambda d: d.update(split="test"))
    assert run(root, "--json") == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False
    assert doc["failed"] == ["graph-hygiene", "normalization", "lineage-records"]
    assert [c["name"] for c in doc["checks"]] == list(CHECKS)
    graph = doc["checks"][0]
    assert graph["ok"] is False
    assert set(graph["findings"][0]) == {"message", "where", "fix"}
    assert graph["findings"][0]["message"].startswith("stage 'tune' depends on 'data/prepared'")


def test_check_runs_only_the_named_check(audited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (audited / "lineage" / "ingest.json").unlink()
    assert run(audited, "--check", "split-leakage") == 0
    out = capsys.readouterr().out
    assert out.startswith("PASS split-leakage: ")
    assert "lineage-records" not in out
    assert run(audited, "--check", "lineage-records", "--json") == 1
    assert [c["name"] for c in json.loads(capsys.readouterr().out)["checks"]] == ["lineage-records"]


def test_without_data_roles_the_split_checks_say_why_they_cannot_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = build(tmp_path / "p", spec_text().split("  data:\n")[0])
    report = audit(root)
    assert report.ok
    assert report.failed == ()
    assert report.skipped == (
        "graph-hygiene",
        "split-leakage",
        "normalization",
        "champions",
        "folds",
        "labels",
    )
    assert report.check("lineage-records").status == "pass"
    skipped = report.check("split-leakage")
    assert skipped.summary == (
        "cannot apply: the spec declares no data splits in pipelines/pets.yaml"
    )
    assert skipped.skipped is not None and "declare the splits under spec.data" in skipped.skipped
    assert run(root) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("SKIP graph-hygiene: cannot apply: ")
    assert lines[1].startswith("    fix: declare the splits under spec.data")
    assert lines[-1] == (
        "audit passed: 1 of 7 checks (6 could not apply: graph-hygiene, split-leakage, "
        "normalization, champions, folds, labels)"
    )
    assert run(root, "--check", "normalization", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["skipped"] == ["normalization"]
    assert data["checks"][0]["status"] == "skip"
    assert "spec.data" in data["checks"][0]["fix"]


def test_a_skipped_check_does_not_hide_a_failing_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = build(tmp_path / "p", spec_text().split("  data:\n")[0])
    (root / "lineage" / "ingest.json").unlink()
    assert run(root) == 1
    out = capsys.readouterr().out
    assert "FAIL lineage-records" in out
    assert out.splitlines()[-1] == "audit failed: 1 of 7 checks (lineage-records)"


def test_user_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path) == 2
    assert "no pedigree project at or above" in capsys.readouterr().err
    root = build(tmp_path / "p")
    assert run(root, "--check", "nonsense") == 2
    assert "Invalid value for '--check'" in capsys.readouterr().err
    with pytest.raises(PedigreeError, match="no audit check named 'nonsense'"):
        audit(root, only="nonsense")


def test_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Examples:" in out
    assert "pedigree audit --check split-leakage --json" in out
