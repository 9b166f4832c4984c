"""A failed stage keeps its last good outputs, and its error shows only this run's log."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from dvc.exceptions import CheckoutError, DvcException
from dvc.stage.exceptions import StageCmdFailedError

from pedigree.errors import InterruptedRunError, StageFailedError
from pedigree.executors import dvc as executor
from pedigree.executors.restore import (
    KEEP_DIR,
    OutputKeeper,
    RestoreNote,
    StageOut,
    restore_outputs,
)
from pedigree.stagerun import stage_log

LOCK = """\
schema: '2.0'
stages:
  make:
    cmd: python -m stages.make
    outs:
    - path: data/raw
      hash: md5
      md5: 0123456789abcdef0123456789abcdef.dir
    - path: data/prepared.txt
      hash: md5
      md5: 0123456789abcdef0123456789abcdef
"""
OUTS = (
    StageOut("data/raw", cached=True, persist=False),
    StageOut("data/prepared.txt", cached=True, persist=False),
    StageOut("metrics.json", cached=False, persist=False),
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "data" / "raw").mkdir(parents=True)
    (project / "data" / "raw" / "a.txt").write_text("good a")
    (project / "data" / "prepared.txt").write_text("good prepared")
    (project / "metrics.json").write_text('{"score": 1}')
    (project / "dvc.lock").write_text(LOCK)
    return project


class FakeRepo:
    """Stands in for dvc.repo.Repo.checkout: puts back what a real cache would hold."""

    def __init__(self, root: Path, missing: tuple[str, ...] = (), error: bool = False) -> None:
        self.root, self.missing, self.error = root, missing, error
        self.targets: list[str] = []

    def checkout(self, targets: list[str], force: bool) -> dict[str, Any]:
        assert force
        self.targets = list(targets)
        if self.error:
            raise DvcException("the cache is locked")
        added = []
        for target in targets:
            path = self.root / target
            if target in self.missing or path.exists():
                continue
            if target == "data/raw":
                path.mkdir(parents=True)
                (path / "a.txt").write_text("good a")
            else:
                path.write_text("good prepared")
            added.append(str(path) + (os.sep if path.is_dir() else ""))
        result = {"added": added, "modified": [], "deleted": []}
        if self.missing:
            raise CheckoutError(list(self.missing), result | {"failed": list(self.missing)})
        return result


def _wipe_outputs(root: Path) -> None:
    """What DVC does before running a stage, then a failing stage's half-written output."""
    import shutil

    shutil.rmtree(root / "data" / "raw")
    (root / "data" / "prepared.txt").unlink()
    (root / "metrics.json").write_text('{"score": "half-written')


def test_cached_outputs_come_from_the_cache_and_metrics_from_the_kept_copy(root: Path) -> None:
    keeper = OutputKeeper(root)
    keeper.keep("make", OUTS)
    assert (root / KEEP_DIR / "make" / "metrics.json").read_text() == '{"score": 1}'
    _wipe_outputs(root)
    repo = FakeRepo(root)
    note = restore_outputs(root, "make", OUTS, keeper, repo)
    assert repo.targets == ["data/raw", "data/prepared.txt"]  # only outputs dvc.lock records
    assert note.from_cache == ("data/raw", "data/prepared.txt")
    assert note.from_copy == ("metrics.json",)
    assert note.absent == ()
    assert (root / "metrics.json").read_text() == '{"score": 1}'
    assert not (root / KEEP_DIR).exists(), "the kept copies must not linger"
    assert note.sentence() == (
        "its previous outputs were restored from the cache: data/raw, data/prepared.txt, and "
        "from the copy kept before the run: metrics.json"
    )


def test_an_output_the_cache_lacks_is_said_to_be_absent(root: Path) -> None:
    keeper = OutputKeeper(root)
    keeper.keep("make", OUTS)
    _wipe_outputs(root)
    note = restore_outputs(root, "make", OUTS, keeper, FakeRepo(root, missing=("data/raw",)))
    assert note.from_cache == ("data/prepared.txt",)
    assert note.absent == ("data/raw",)
    assert "absent, with no previous version to restore: data/raw" in note.sentence()


def test_a_stage_that_never_ran_has_nothing_to_restore(root: Path) -> None:
    (root / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    (root / "metrics.json").unlink()
    keeper = OutputKeeper(root)
    keeper.keep("make", OUTS)
    _wipe_outputs(root)
    (root / "metrics.json").unlink()
    repo = FakeRepo(root)
    note = restore_outputs(root, "make", OUTS, keeper, repo)
    assert repo.targets == [], "nothing recorded: nothing to check out"
    assert note.from_cache == () and note.from_copy == ()
    assert note.absent == ("data/raw", "data/prepared.txt", "metrics.json")


def test_outputs_dvc_never_deleted_are_not_reported_as_restored(root: Path) -> None:
    # DVC refused before deleting anything: the workspace already matches dvc.lock.
    keeper = OutputKeeper(root)
    keeper.keep("make", OUTS)
    note = restore_outputs(root, "make", OUTS, keeper, FakeRepo(root))
    assert note == RestoreNote(), "nothing was lost, so nothing is said to be restored"
    assert (root / "metrics.json").read_text() == '{"score": 1}'
    assert not (root / KEEP_DIR).exists()


def test_a_checkout_error_is_reported_not_raised(root: Path) -> None:
    keeper = OutputKeeper(root)
    keeper.keep("make", OUTS)
    _wipe_outputs(root)
    note = restore_outputs(root, "make", OUTS, keeper, FakeRepo(root, error=True))
    assert note.error == "the cache is locked"
    assert "could not be restored: the cache is locked" in note.sentence()


def test_persist_outputs_and_paths_outside_the_project_are_left_alone(root: Path) -> None:
    outside = root.parent / "secret.txt"
    outside.write_text("not ours")
    keeper = OutputKeeper(root)
    keeper.keep(
        "make",
        (StageOut("../secret.txt", False, False), StageOut("metrics.json", False, True)),
    )
    assert keeper.kept["make"] == ()
    assert not (root / KEEP_DIR / "make").exists()


def test_kept_folders_are_copied_whole_and_discarded_on_success(root: Path) -> None:
    (root / "plots").mkdir()
    (root / "plots" / "curve.csv").write_text("1,2\n")
    keeper = OutputKeeper(root)
    keeper.keep("make", (StageOut("plots", False, False),))
    (root / "plots" / "curve.csv").write_text("half")  # written in place: the copy is separate
    assert (root / KEEP_DIR / "make" / "plots" / "curve.csv").read_text() == "1,2\n"
    assert keeper.put_back("make") == ("plots",)
    assert (root / "plots" / "curve.csv").read_text() == "1,2\n"
    keeper.keep("make", (StageOut("plots", False, False),))
    keeper.discard("make")
    assert not (root / KEEP_DIR).exists()


def test_the_note_says_nothing_when_nothing_happened() -> None:
    assert RestoreNote().sentence() == ""


def _failed(code: int) -> DvcException:
    error = DvcException("failed to reproduce 'make'")
    error.__cause__ = StageCmdFailedError("python -m stages.make", code)
    return error


def test_a_stage_that_ran_shows_this_runs_log_tail(root: Path) -> None:
    log = stage_log(root, "make")
    log.parent.mkdir(parents=True)
    log.write_text("old run\n")
    before = executor._log_mark(root, "make")
    log.write_text("new run line 1\nbad param: mode=fail\n")
    os.utime(log, ns=(1, 1))  # a different time, as the launcher's rewrite gives
    error = executor._stage_error(root, "make", _failed(3), before, RestoreNote(("data/raw",)))
    assert isinstance(error, StageFailedError)
    assert error.message == (
        "stage 'make' failed (exit code 3); its previous outputs were restored from the cache: "
        "data/raw"
    )
    assert error.log_tail == "new run line 1\nbad param: mode=fail"
    assert error.hint == "full log: .pedigree/logs/make.log"


def test_a_stage_that_never_started_shows_dvcs_reason_not_an_old_log(root: Path) -> None:
    log = stage_log(root, "make")
    log.parent.mkdir(parents=True)
    log.write_text("old run: everything fine\n")
    before = executor._log_mark(root, "make")
    cause = FileNotFoundError("data/source.txt does not exist")
    error_in = DvcException("failed to reproduce 'make'")
    error_in.__cause__ = cause
    error = executor._stage_error(root, "make", error_in, before, RestoreNote())
    assert isinstance(error, StageFailedError)
    assert error.message == "stage 'make' did not start: data/source.txt does not exist"
    assert error.log_tail == ""
    assert "old run" not in str(error)
    assert error.hint == (
        "fix the cause DVC gives, then run again "
        "(this run wrote no log; .pedigree/logs/make.log is from an earlier run)"
    )


def test_no_log_at_all_also_means_the_stage_did_not_start(root: Path) -> None:
    error = executor._stage_error(root, "make", _failed(75), None, RestoreNote())
    # `pedigree pull` recognises a refused restore-only stage by its exit code in the message.
    assert error.message.startswith("stage 'make' did not start (exit code 75): ")
    assert error.hint == "fix the cause DVC gives, then run again (this run wrote no log)"


def test_an_interrupted_stage_says_what_came_back(root: Path) -> None:
    error = executor._stage_error(
        root, "make", _failed(130), None, RestoreNote(from_copy=("metrics.json",))
    )
    assert isinstance(error, InterruptedRunError)
    assert error.message.startswith("interrupted during stage 'make'")
    assert error.message.endswith("from the copy kept before the run: metrics.json")


def test_dvc_calls_run_from_the_project_root_and_the_cwd_comes_back(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = root / "data" / "raw"
    monkeypatch.chdir(elsewhere)
    with executor._in_project(Path(os.path.relpath(root, elsewhere))) as inside:
        assert Path.cwd() == root.resolve() == inside
    assert Path.cwd() == elsewhere.resolve()
    with pytest.raises(RuntimeError, match="boom"), executor._in_project(root):
        raise RuntimeError("boom")
    assert Path.cwd() == elsewhere.resolve()
