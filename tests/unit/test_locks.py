"""Lock parsing and agreement between stage locks, the combined lock and the environment."""

from __future__ import annotations

from pathlib import Path

from pedigree.locks import COMBINED_LOCK, disagreements, environment_mismatches, read_lock
from tests.conftest import REPO_ROOT

LOCK = """\
# header
click==8.1.7 \\
    --hash=sha256:aa
colorama==0.4.6 ; sys_platform == 'win32' \\
    --hash=sha256:bb
    # via click
PyYAML==6.0.3 \\
    --hash=sha256:cc
"""


def test_read_lock(tmp_path: Path) -> None:
    path = tmp_path / "r.lock"
    path.write_text(LOCK, encoding="utf-8")
    pins = read_lock(path)
    assert set(pins) == {"click", "colorama", "pyyaml"}
    assert pins["pyyaml"].version == "6.0.3" and pins["pyyaml"].line == 7
    assert pins["colorama"].marker == "sys_platform == 'win32'" and not pins["colorama"].applies()


def test_disagreements(tmp_path: Path) -> None:
    combined = tmp_path / "all.lock"
    combined.write_text(LOCK, encoding="utf-8")
    stage = tmp_path / "stage.lock"
    stage.write_text("click==8.1.8 \\\nrich==13.0 \\\npyyaml==6.0.3 \\\n", encoding="utf-8")
    found = disagreements(stage, read_lock(combined), "images/x/requirements.lock")
    assert found == [
        f"images/x/requirements.lock:1: click==8.1.8 but {COMBINED_LOCK}:2 pins 8.1.7",
        f"images/x/requirements.lock:2: rich==13.0 is not in {COMBINED_LOCK}",
    ]


def test_environment_mismatch_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "r.lock"
    path.write_text("pyyaml==0.0.1 \\\nno-such-package-xyz==1.0 \\\n", encoding="utf-8")
    found = environment_mismatches(read_lock(path))
    assert "no-such-package-xyz==1.0 is locked but not installed" in found
    assert any(line.startswith("pyyaml ") and "the lock pins 0.0.1" in line for line in found)


def test_project_stage_locks_agree_with_combined_lock() -> None:
    combined = read_lock(REPO_ROOT / COMBINED_LOCK)
    for lock in sorted((REPO_ROOT / "images").glob("*/requirements.lock")):
        assert disagreements(lock, combined, str(lock.relative_to(REPO_ROOT))) == []
