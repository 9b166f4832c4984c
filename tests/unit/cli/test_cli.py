"""The CLI: help with examples, exit codes, one-line errors, JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pedigree.cli.main import cli, main
from tests.conftest import VALID_SPEC


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help_with_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Example" in out and f"pedigree {command}" in out


def test_validate_ok(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-C", str(project), "validate"]) == 0
    assert "OK: pipeline 'pets' with 2 stages" in capsys.readouterr().out


def test_validate_reports_every_problem_and_exits_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = project / "pipelines" / "pets.yaml"
    spec.write_text(
        VALID_SPEC.replace("retries: 2", "retires: 2").replace("memory: 2Gi", "memory: x"),
        encoding="utf-8",
    )
    assert main(["-C", str(project), "validate"]) == 2
    err = capsys.readouterr().err
    assert "error: 2 problems found:" in err
    assert "pipelines/pets.yaml:17 [spec.stages[1].retires]: unknown key 'retires'" in err
    assert "Traceback" not in err


def test_validate_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "pipelines" / "pets.yaml").write_text("", encoding="utf-8")
    assert main(["-C", str(project), "validate", "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == 2 and data["problems"][0]["message"] == "file is empty"


def test_validate_a_loose_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(VALID_SPEC, encoding="utf-8")
    assert main(["validate", str(path)]) == 0


def test_not_a_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-C", str(tmp_path), "check"]) == 2
    assert "no pedigree project" in capsys.readouterr().err


def test_check_fails_with_3_when_dvc_yaml_is_stale(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-C", str(project), "compile"]) == 0
    assert main(["-C", str(project), "check", "--no-env"]) == 3  # no images/requirements.lock here
    (project / "images" / "requirements.lock").write_text("pyyaml==6.0.3 \\\n", encoding="utf-8")
    assert main(["-C", str(project), "check", "--no-env"]) == 0
    spec = project / "pipelines" / "pets.yaml"
    spec.write_text(
        spec.read_text(encoding="utf-8")
        .replace("retries: 2", "retries: 3")
        .replace("stages.transform]", "stages.transform, --fast]"),
        encoding="utf-8",
    )
    capsys.readouterr()
    assert main(["-C", str(project), "check", "--no-env"]) == 3
    out = capsys.readouterr().out
    assert "FAIL dvc.yaml: dvc.yaml is stale" in out and "pedigree compile --target dvc" in out


def test_check_reports_lock_disagreement(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["-C", str(project), "compile"])
    capsys.readouterr()
    (project / "images" / "requirements.lock").write_text("pyyaml==6.0.2 \\\n", encoding="utf-8")
    assert main(["-C", str(project), "check", "--no-env", "--json"]) == 3
    data = json.loads(capsys.readouterr().out)
    locks = next(c for c in data["checks"] if c["name"] == "locks")
    assert not locks["ok"]
    assert (
        "images/ingest/requirements.lock:1: pyyaml==6.0.3 but images/requirements.lock:1 pins 6.0.2"
        in locks["details"]
    )


def test_check_reports_a_runner_lock_that_disagrees(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["-C", str(project), "compile"])
    (project / "images" / "requirements.lock").write_text("pyyaml==6.0.3 \\\n", encoding="utf-8")
    (project / "images" / "base").mkdir()
    (project / "images" / "base" / "requirements.lock").write_text(
        "pyyaml==6.0.3 \\\ndvc==3.0.0 \\\n", encoding="utf-8"
    )
    capsys.readouterr()
    assert main(["-C", str(project), "check", "--no-env", "--json"]) == 3
    locks = next(c for c in json.loads(capsys.readouterr().out)["checks"] if c["name"] == "locks")
    assert locks["details"] == [
        "images/base/requirements.lock:2: dvc==3.0.0 is not in images/requirements.lock"
    ]


def test_run_unknown_stage(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-C", str(project), "run", "--stage", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no stage named 'nope'" in err and "stages: ingest, transform" in err


def test_bad_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--fast"]) == 2
    assert "No such option '--fast'" in capsys.readouterr().err


def test_internal_errors_are_one_line(
    monkeypatch: pytest.MonkeyPatch, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pedigree.api import main as api

    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(api, "validate", boom)
    assert main(["-C", str(project), "validate"]) == 5
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: kaput" in err and "Traceback" not in err
