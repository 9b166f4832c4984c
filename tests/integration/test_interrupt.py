"""A stage killed (SIGKILL) or interrupted (Ctrl-C) mid-run leaves nothing that looks finished,
and the next run completes it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import (
    BIN,
    make_pets_project,
    pedigree,
    project_env,
    run_outcomes,
)

pytestmark = pytest.mark.integration

# Enough samples that transform is busy writing shards for a while after it starts its output.
SLOW_PARAMS = {
    "ingest": {"synthetic": {"count": 160, "images_per_animal": [2, 4], "image_size": [96, 128]}},
    "transform": {"image_size": [128, 128], "shard_size": 4},
}


def _start_run(root: Path) -> subprocess.Popen[bytes]:
    # A new session = its own process group, like a terminal job: signals reach every process.
    return subprocess.Popen(
        [str(BIN / "pedigree"), "run", "--stage", "transform"],
        cwd=root,
        env=project_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _wait_for_partial_output(
    root: Path, proc: subprocess.Popen[bytes], timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if list((root / "data").glob(".prepared.partial-*")):
            return
        if proc.poll() is not None:
            raise AssertionError(
                f"run ended before transform started writing: {proc.communicate()}"
            )
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("transform never started writing its output")


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_pets_project(tmp_path_factory.mktemp("slow") / "pets", SLOW_PARAMS)
    assert run_outcomes(root, "--stage", "ingest") == {"ingest": "ran"}
    return root


def _copy(ingested: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "pets"
    shutil.copytree(ingested, target, symlinks=True)
    return target


def _assert_recovers(root: Path) -> None:
    prepared = root / "data" / "prepared"
    assert not prepared.exists(), "a killed transform left data/prepared behind"
    lock = (root / "dvc.lock").read_text(encoding="utf-8")
    assert "transform:" not in lock
    assert "transform: stale" in pedigree(root, "status").stdout
    outcomes = run_outcomes(root, "--stage", "transform")
    assert outcomes == {"ingest": "skipped", "transform": "ran"}
    assert (prepared / "splits.json").is_file()
    assert list((root / "data").glob(".prepared.partial-*")) == []
    assert run_outcomes(root, "--stage", "transform") == {
        "ingest": "skipped",
        "transform": "skipped",
    }


def test_sigkill_mid_stage_then_next_run_completes(ingested: Path, tmp_path: Path) -> None:
    root = _copy(ingested, tmp_path)
    proc = _start_run(root)
    _wait_for_partial_output(root, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    time.sleep(0.2)  # let the killed processes disappear
    leftovers = list((root / "data").glob(".prepared.partial-*"))
    assert leftovers, "expected the killed stage's scratch folder (clearly named, never the output)"
    _assert_recovers(root)


def test_ctrl_c_mid_stage_stops_cleanly_then_next_run_completes(
    ingested: Path, tmp_path: Path
) -> None:
    root = _copy(ingested, tmp_path)
    proc = _start_run(root)
    _wait_for_partial_output(root, proc)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert b"interrupted" in err
    assert list((root / "data").glob(".prepared.partial-*")) == [], "Ctrl-C must clean up"
    _assert_recovers(root)
