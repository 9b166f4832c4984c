"""Bad state and closed pipes with the real `pedigree` console script, dvc and git.

A reader that goes away (`pedigree status | head -1`) ends a command quietly; a corrupt lineage
record, a garbage dvc.lock or a garbage line in the OpenLineage events file is a located error
(exit 2 or 4) or an audit finding, never a traceback. One tiny demo project (two one-second
stages) is built once and copied per test.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import BIN, make_demo_project, pedigree, project_env, sh

pytestmark = pytest.mark.integration

PEDIGREE = str(BIN / "pedigree")
RECORD = "lineage/noisy.json"
HINT = (
    "hint: restore it with `git checkout lineage/noisy.json` or re-run the stage with "
    "`pedigree run --stage noisy --force`"
)


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_project(tmp_path_factory.mktemp("hostile") / "demo")


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(demo_template, target, symlinks=True)
    return target


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    text = result.stdout + result.stderr
    assert "Traceback" not in text and "internal error" not in text, text


@pytest.mark.parametrize(
    "args",
    ["status", "lineage data/noisy.bin --format json"],
)
def test_a_reader_that_stops_early_leaves_no_error(demo: Path, args: str) -> None:
    script = f'{PEDIGREE} {args} | head -1; echo "pedigree exited ${{PIPESTATUS[0]}}"'
    done = sh(demo, "bash", "-c", script, check=False)
    first, last = done.stdout.splitlines()[0], done.stdout.splitlines()[-1]
    assert done.stderr == ""
    assert first and last in ("pedigree exited 0", "pedigree exited 141"), done.stdout


@pytest.mark.parametrize("args", [("status", "--json"), ("lineage", "data/noisy.bin")])
def test_a_closed_stdout_ends_quietly_with_141(demo: Path, args: tuple[str, ...]) -> None:
    child = subprocess.Popen(
        [PEDIGREE, *args],
        cwd=demo,
        env=project_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # the reader is gone before the first write
    err = child.stderr.read()
    assert (child.wait(timeout=120), err) == (141, b"")


# Every kind of corruption is tried in tests/unit/lineage/test_corrupt_records.py; here, one
# per reader and format, through the real console script.
CORRUPT = {
    "tree": bytes(random.Random(5).randrange(256) for _ in range(2048)),
    "openlineage": b'{"stage": "noisy"}',
}


@pytest.mark.parametrize("fmt", sorted(CORRUPT))
def test_a_corrupt_record_is_located_by_lineage_and_audit(demo: Path, fmt: str) -> None:
    (demo / RECORD).write_bytes(CORRUPT[fmt])
    shown = pedigree(demo, "lineage", "data/noisy.bin", "--format", fmt, check=False)
    _no_traceback(shown)
    assert shown.returncode == 2 and shown.stdout == ""
    assert shown.stderr.startswith(f"error: {RECORD}: not a valid lineage record (")
    assert HINT in shown.stderr
    audited = pedigree(demo, "audit", "--check", "lineage-records", check=False)
    _no_traceback(audited)
    assert audited.returncode == 1
    assert f"  - {RECORD}: stage 'noisy': not a valid lineage record (" in audited.stdout


def test_a_fifo_record_fails_at_once(demo: Path) -> None:
    (demo / RECORD).unlink()
    os.mkfifo(demo / RECORD)
    shown = pedigree(demo, "lineage", "data/noisy.bin", check=False)  # no hang: sh has a timeout
    assert shown.returncode == 2
    assert f"{RECORD}: not a valid lineage record (the file is a FIFO" in shown.stderr


def test_run_restoring_a_stage_replaces_its_corrupt_record(demo: Path) -> None:
    params = demo / "params.yaml"
    original = (demo / "lineage" / "steady.json").read_bytes()
    params.write_text("steady:\n  factor: 3\n")
    pedigree(demo, "run")
    params.write_text("steady:\n  factor: 2\n")  # back: DVC restores it from its run-cache
    (demo / "lineage" / "steady.json").write_bytes(b"\xff\xfe not a record")
    ran = pedigree(demo, "run", check=False)
    _no_traceback(ran)
    assert ran.returncode == 0, ran.stderr
    # The record of the run that made the restored outputs, from the local history.
    assert (demo / "lineage" / "steady.json").read_bytes() == original


def test_a_garbage_dvc_lock_is_a_tool_error_everywhere(demo: Path) -> None:
    (demo / "dvc.lock").write_bytes(b"stages: [\n\xff\n")
    shown = pedigree(demo, "lineage", "data/noisy.bin", check=False)
    assert shown.returncode == 4
    assert shown.stderr.startswith("error: dvc.lock:2: not a DVC stage file: not UTF-8")
    audited = pedigree(demo, "audit", "--check", "lineage-records", check=False)
    assert audited.returncode == 1 and "  - dvc.lock: dvc.lock:2: not a DVC stage" in audited.stdout
    for result in (shown, audited, pedigree(demo, "status", check=False)):
        _no_traceback(result)
        assert result.returncode in (1, 4)


def test_a_garbage_event_line_does_not_stop_a_run(demo: Path) -> None:
    events = demo / ".pedigree" / "lineage" / "openlineage.jsonl"
    with events.open("ab") as out:
        out.write(b"\xff\xfe{garbage\n")
    ran = pedigree(demo, "run", "--stage", "steady", "--force")
    _no_traceback(ran)
    assert events.read_bytes().count(b"\n") > 2  # the new events were appended after it
    shown = pedigree(demo, "lineage", "data/noisy.bin", "--format", "openlineage")
    assert shown.stdout.count("\n") == 4  # START and COMPLETE of both runs, from the records
