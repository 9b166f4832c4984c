"""The stage launcher: fixed interpreter settings, the log, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pedigree import launch


def _launch(
    tmp_path: Path, code: str, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ, PYTHONHASHSEED="random", **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "pedigree.launch", "--stage", "demo", "--", "python", "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_hash_seed_is_fixed_before_the_stage_starts(tmp_path: Path) -> None:
    code = "import os, sys; print(os.environ['PYTHONHASHSEED'], hash('pedigree'), sys.flags.hash_randomization)"
    first = _launch(tmp_path, code)
    second = _launch(tmp_path, code)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout  # same hash() in two processes
    assert first.stdout.startswith(f"{launch.HASH_SEED} ")


def test_output_is_teed_to_the_log(tmp_path: Path) -> None:
    result = _launch(tmp_path, "print('hello'); import sys; print('oops', file=sys.stderr)")
    assert "hello" in result.stdout
    log = (tmp_path / ".pedigree" / "logs" / "demo.log").read_text()
    assert "hello" in log and "oops" in log


def test_log_only_mode_keeps_the_terminal_quiet(tmp_path: Path) -> None:
    result = _launch(tmp_path, "print('hello')", {launch.OUTPUT_MODE: "log"})
    assert result.stdout == ""
    assert "hello" in (tmp_path / ".pedigree" / "logs" / "demo.log").read_text()


def test_exit_code_is_passed_through(tmp_path: Path) -> None:
    assert _launch(tmp_path, "raise SystemExit(7)").returncode == 7


def test_missing_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pedigree.launch", "--stage", "x", "--", "no-such-binary-xyz"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 127 and "command not found: no-such-binary-xyz" in result.stderr


def test_no_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit, match="2"):
        launch.main(["--stage", "x", "--"])
