"""`python -m pedigree.api.foldstep`: its arguments and environment, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pedigree.api import foldstep


def test_a_pod_without_its_remote_says_which_variable_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PEDIGREE_REMOTE", raising=False)
    assert foldstep.main(["plan", "--folds", "3"]) == 2
    err = capsys.readouterr().err
    assert "replicate plan: error: PEDIGREE_REMOTE is not set" in err


def test_a_pod_outside_a_checkout_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PEDIGREE_REMOTE", str(tmp_path / "remote"))
    assert foldstep.main(["gather", "--folds", "3"]) == 2
    assert "has no dvc.yaml: the project is not checked out here" in capsys.readouterr().err


def test_a_fold_run_needs_its_fold_seed_and_plan(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        foldstep.main(["run", "--folds", "3", "--seed", "1"])
    assert exited.value.code == 2
    assert "the following arguments are required: --fold, --plan" in capsys.readouterr().err
