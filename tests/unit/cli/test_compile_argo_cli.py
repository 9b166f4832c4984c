"""`pedigree compile --target argo` and the `argo` item of `pedigree check`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pedigree.cli.main import main
from tests.unit.conftest import check_items

TEMPLATE = "cluster-conf/base/workflowtemplate-pets.yaml"
WORKFLOW = "cluster-conf/workflows/pets.yaml"


def test_compile_argo_writes_both_files_then_leaves_them_alone(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["-C", str(project), "compile", "--target", "argo"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"wrote {TEMPLATE}", f"wrote {WORKFLOW}"]
    mtime = (project / TEMPLATE).stat().st_mtime_ns
    assert main(["-C", str(project), "compile", "--target", "argo", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == {
        "target": "argo",
        "changed": False,
        "files": [{"path": TEMPLATE, "changed": False}, {"path": WORKFLOW, "changed": False}],
    }
    assert (project / TEMPLATE).stat().st_mtime_ns == mtime


def test_check_has_no_argo_item_without_cluster_conf(
    checked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, items = check_items(checked, capsys)
    assert code == 0 and "argo" not in items


def test_check_fails_when_argo_files_are_missing_then_passes_after_compile(
    checked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (checked / "cluster-conf" / "base").mkdir(parents=True)
    code, items = check_items(checked, capsys)
    assert code == 3
    assert items["argo"]["message"] == "the Argo workflow files are missing"
    assert items["argo"]["details"] == [f"{TEMPLATE} is missing", f"{WORKFLOW} is missing"]
    assert "pedigree compile --target argo" in items["argo"]["hint"]
    assert main(["-C", str(checked), "compile", "--target", "argo"]) == 0
    code, items = check_items(checked, capsys)
    assert code == 0 and items["argo"]["ok"]


def test_check_fails_when_the_template_is_edited_by_hand(
    checked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-C", str(checked), "compile", "--target", "argo"]) == 0
    path = checked / TEMPLATE
    path.write_text(
        path.read_text(encoding="utf-8").replace("limit: '2'", "limit: '5'"), encoding="utf-8"
    )
    capsys.readouterr()
    assert main(["-C", str(checked), "check", "--no-env"]) == 3
    out = capsys.readouterr().out
    assert "FAIL argo: the Argo workflow files are stale" in out
    assert f"{TEMPLATE} differs from what pipelines/pets.yaml compiles to" in out
    assert "fix: run `pedigree compile --target argo` and commit cluster-conf/" in out


def test_check_fails_when_the_spec_changed_since_compile(
    checked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-C", str(checked), "compile", "--target", "argo"]) == 0
    spec = checked / "pipelines" / "pets.yaml"
    spec.write_text(
        spec.read_text(encoding="utf-8").replace("retries: 2", "retries: 3"), encoding="utf-8"
    )
    assert main(["-C", str(checked), "compile"]) == 0  # dvc.yaml current, the argo files not
    code, items = check_items(checked, capsys)
    assert code == 3 and not items["argo"]["ok"] and items["dvc.yaml"]["ok"]
    assert items["argo"]["details"] == [
        f"{TEMPLATE} differs from what pipelines/pets.yaml compiles to"
    ]


def test_check_applies_once_a_file_was_compiled_even_without_base(
    checked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-C", str(checked), "compile", "--target", "argo"]) == 0
    (checked / TEMPLATE).unlink()
    (checked / TEMPLATE).parent.rmdir()
    code, items = check_items(checked, capsys)
    assert code == 3 and items["argo"]["details"] == [f"{TEMPLATE} is missing"]


def test_compile_help_shows_the_argo_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", "--help"]) == 0
    out = capsys.readouterr().out
    assert "pedigree compile --target argo" in out and "[dvc|argo|images|all]" in out


def test_compile_refuses_an_unknown_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", "--target", "k8s"]) == 2
    assert "'k8s' is not one of 'dvc', 'argo', 'images', 'all'" in capsys.readouterr().err
