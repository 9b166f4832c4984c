"""The local run through real DVC and git: skip what is up to date, re-run exactly what changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import (
    ALL_STAGES,
    BIN,
    pedigree,
    run_outcomes,
    set_params,
    sh,
)

pytestmark = pytest.mark.integration


def only(*ran: str, outcome: str = "ran") -> dict[str, str]:
    """Expected outcomes: `ran` stages have `outcome`, every other stage is skipped."""
    return {stage: outcome if stage in ran else "skipped" for stage in ALL_STAGES}


def test_first_run_executes_both_and_second_skips_both(ran_project: Path) -> None:
    # the first run happened in the template fixture (asserted there: both ran)
    assert (ran_project / "data" / "raw" / "manifest.json").is_file()
    assert (ran_project / "data" / "prepared" / "splits.json").is_file()
    assert run_outcomes(ran_project) == only()
    status = json.loads(pedigree(ran_project, "status", "--json").stdout)
    assert status["up_to_date"] is True


def test_a_transform_param_reruns_from_transform_and_plain_dvc_repro_runs_it(
    ran_project: Path,
) -> None:
    # One re-run serves two claims: a transform param re-runs transform and what its new outputs
    # feed, and plain `dvc repro` runs the generated pipeline (dvc.yaml needs nothing from
    # pedigree's CLI). A change at the source plans all seven (test_dry_run_changes_nothing).
    set_params(ran_project, {"transform": {"shard_size": 5}})
    status = pedigree(ran_project, "status").stdout
    assert "ingest: up to date" in status
    assert (
        "transform: stale" in status
        and "params changed: transform.shard_size: 8 -> 5 in params.yaml" in status
    )
    result = sh(ran_project, str(BIN / "dvc"), "repro")
    # new shard files: everything downstream of transform re-runs too, up to the model stages;
    # the tiny test split fits one shard either way and the model comes out byte-identical, so
    # evaluate and release (content-addressed by DVC) have nothing new to do
    ran = ("transform", "tune", "train", "calibrate")
    for stage in ALL_STAGES:
        assert (f"Running stage '{stage}'" in result.stdout) == (stage in ran), result.stdout
    assert run_outcomes(ran_project) == only()
    assert "didn't change" in sh(ran_project, str(BIN / "dvc"), "repro").stdout


def test_editing_transform_code_reruns_only_transform(ran_project: Path) -> None:
    code = ran_project / "stages" / "transform" / "__init__.py"
    code.write_text(code.read_text(encoding="utf-8") + "\n# a harmless edit\n", encoding="utf-8")
    status = pedigree(ran_project, "status").stdout
    assert "code changed: stages/transform (modified)" in status
    # transform re-runs; its outputs come out byte-identical, so nothing downstream re-runs
    assert run_outcomes(ran_project) == only("transform")


def test_editing_an_environment_lock_reruns_that_stage(ran_project: Path) -> None:
    lock = ran_project / "images" / "transform" / "requirements.lock"
    lock.write_text(lock.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert (
        "environment changed: images/transform/requirements.lock"
        in pedigree(ran_project, "status").stdout
    )
    assert run_outcomes(ran_project) == only("transform")


def test_dry_run_changes_nothing(ran_project: Path) -> None:
    set_params(ran_project, {"ingest": {"synthetic": {"seed": 8}}})
    before = (ran_project / "dvc.lock").read_text()
    assert run_outcomes(ran_project, "--dry-run") == only(*ALL_STAGES, outcome="would-run")
    assert (ran_project / "dvc.lock").read_text() == before


def test_failing_stage_is_named_with_its_log_tail(ran_project: Path) -> None:
    # A failure while the stage runs (bad params are refused before anything runs).
    main = ran_project / "stages" / "transform" / "__main__.py"
    main.write_text(
        "import sys\nprint('transform: the disk is full', file=sys.stderr)\nsys.exit(2)\n",
        encoding="utf-8",
    )
    result = pedigree(ran_project, "run", check=False)
    assert result.returncode == 1
    assert "error: stage 'transform' failed (exit code 2)" in result.stderr
    assert "last lines of the 'transform' log" in result.stderr
    assert "transform: the disk is full" in result.stderr  # this run's log
    assert "hint: full log: .pedigree/logs/transform.log" in result.stderr
    # and the previous outputs are back
    assert (ran_project / "data" / "prepared" / "splits.json").is_file()


def test_bad_params_are_refused_before_any_stage_runs(ran_project: Path) -> None:
    set_params(ran_project, {"transform": {"shard_size": 0}})
    lock = (ran_project / "dvc.lock").read_bytes()
    result = pedigree(ran_project, "run", check=False)
    assert result.returncode == 2
    assert "params.yaml:" in result.stderr and "[transform.shard_size]" in result.stderr
    assert "running" not in result.stdout.replace("running pipeline", "")
    assert (ran_project / "dvc.lock").read_bytes() == lock


def test_spec_change_regenerates_dvc_yaml_before_running(ran_project: Path) -> None:
    spec = ran_project / "pipelines" / "pets.yaml"
    spec.write_text(
        spec.read_text(encoding="utf-8").replace("retries: 2", "retries: 1"), encoding="utf-8"
    )
    assert (
        pedigree(ran_project, "check", "--no-env", check=False).returncode == 0
    )  # retries are not in dvc.yaml
    text = spec.read_text(encoding="utf-8").replace(
        "--out, data/prepared]", "--out, data/prepared, --raw, data/raw]"
    )
    spec.write_text(text, encoding="utf-8")
    assert pedigree(ran_project, "check", "--no-env", check=False).returncode == 3
    status = pedigree(ran_project, "status", check=False)
    assert status.returncode == 3 and "dvc.yaml is stale" in status.stderr
    result = json.loads(pedigree(ran_project, "run", "--json").stdout)
    assert result["dvc_yaml_regenerated"] is True
    assert {s["stage"]: s["outcome"] for s in result["stages"]} == only("transform")
    assert pedigree(ran_project, "check", "--no-env").returncode == 0


def test_force_with_a_stage_forces_only_that_stage(ran_project: Path) -> None:
    assert run_outcomes(ran_project, "--stage", "transform", "--force") == {
        "ingest": "skipped",
        "transform": "ran",
    }
    assert run_outcomes(ran_project, "--stage", "train") == {
        "ingest": "skipped",
        "transform": "skipped",
        "tune": "skipped",
        "train": "skipped",
    }
    assert run_outcomes(ran_project, "--stage", "ingest") == {"ingest": "skipped"}
