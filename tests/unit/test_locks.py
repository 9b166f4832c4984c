"""Lock parsing and agreement between stage locks, the combined lock and the environment."""

from __future__ import annotations

from pathlib import Path

from pedigree.locks import (
    COMBINED_LOCK,
    LABELS_LOCK,
    disagreements,
    environment_mismatches,
    missing_pins,
    read_lock,
)
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


REPLICATE_LOCK = "images/replicate/requirements.lock"
# What `pedigree replicate --folds` runs in the replicate image: pets' fold stages and the label
# audit (fold_stages(pets) is checked in tests/unit/spec/test_folds_section.py).
FOLD_STAGES = ("transform", "tune", "train", "calibrate", "evaluate")
FOLD_LOCKS = [*(f"images/{stage}/requirements.lock" for stage in FOLD_STAGES), LABELS_LOCK]


def test_missing_pins(tmp_path: Path) -> None:
    union = tmp_path / "union.lock"
    union.write_text(LOCK, encoding="utf-8")
    one = tmp_path / "one.lock"
    one.write_text("click==8.1.7 \\\nrich==13.0 \\\n", encoding="utf-8")
    two = tmp_path / "two.lock"
    two.write_text("pyyaml==6.0.2 \\\n", encoding="utf-8")
    found = missing_pins(union, "u.lock", [("one.lock", one), ("two.lock", two)])
    assert found == [
        "u.lock: rich==13.0 is missing (pinned by one.lock:2)",
        "u.lock:7: pyyaml==6.0.3 but two.lock:1 pins 6.0.2",
    ]
    assert missing_pins(union, "u.lock", []) == []


def test_the_replicate_lock_pins_every_fold_stage_and_label_audit_package() -> None:
    union = read_lock(REPO_ROOT / REPLICATE_LOCK)
    for lock in FOLD_LOCKS:
        pins = read_lock(REPO_ROOT / lock)
        assert pins, f"{lock} pins nothing"
        assert {n: p.version for n, p in pins.items()} == {
            n: union[n].version for n in pins if n in union
        }, lock
        assert set(pins) <= set(union), f"{lock}: {sorted(set(pins) - set(union))}"
    assert "--hash=sha256:" in (REPO_ROOT / REPLICATE_LOCK).read_text(encoding="utf-8")
    sources = [(lock, REPO_ROOT / lock) for lock in FOLD_LOCKS]
    assert missing_pins(REPO_ROOT / REPLICATE_LOCK, REPLICATE_LOCK, sources) == []


def test_a_copy_of_the_replicate_lock_without_one_package_is_caught(tmp_path: Path) -> None:
    lines = (REPO_ROOT / REPLICATE_LOCK).read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("cleanlab=="))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
    copy = tmp_path / "requirements.lock"
    copy.write_text("".join(lines[:start] + lines[end:]), encoding="utf-8")
    labels = read_lock(REPO_ROOT / LABELS_LOCK)["cleanlab"]
    sources = [(lock, REPO_ROOT / lock) for lock in FOLD_LOCKS]
    assert missing_pins(copy, REPLICATE_LOCK, sources) == [
        f"{REPLICATE_LOCK}: cleanlab=={labels.version} is missing "
        f"(pinned by {LABELS_LOCK}:{labels.line})"
    ]
