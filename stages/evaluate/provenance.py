"""Where the evaluated artefacts came from: hashes, dvc.lock, git, interpreter and libraries.

Everything here is read-only and tolerant: a missing dvc.lock or a folder outside git is a fact
to report ("no dvc.lock yet", "not a git repository"), not an error.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pedigree.stagekit import sha256_file, sha256_tree

NO_LOCK = "no dvc.lock yet"
NO_GIT = "not a git repository"


def artefact_hashes(model: str, calibration: str, prepared: str) -> dict[str, dict[str, str]]:
    """sha256 of the model, calibration.json and the test split, computed now."""
    test = f"{prepared}/test"
    return {
        "model": {"path": model, "sha256": sha256_file(Path(model))},
        "calibration": {"path": calibration, "sha256": sha256_file(Path(calibration))},
        "test_split": {"path": test, "sha256": sha256_tree(Path(test))},
    }


@dataclass(frozen=True)
class LockOutputs:
    """Each stage's outs as dvc.lock records them, or why there are none."""

    rows: list[tuple[str, str, str]]  # (stage, path, content hash)
    note: str | None


def lock_outputs(path: Path) -> LockOutputs:
    """The outs (path and md5) of every stage in dvc.lock."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return LockOutputs([], NO_LOCK)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return LockOutputs([], f"{path} is not readable YAML ({type(exc).__name__})")
    stages = doc.get("stages") if isinstance(doc, dict) else None
    if not isinstance(stages, dict):
        return LockOutputs([], f"{path} records no stages")
    rows = []
    for stage in sorted(stages):
        entry = stages[stage] if isinstance(stages[stage], dict) else {}
        for out in entry.get("outs") or []:
            if isinstance(out, dict):
                digest = out.get("md5") or out.get("hash") or "?"
                rows.append((str(stage), str(out.get("path", "?")), str(digest)))
    return LockOutputs(rows, None if rows else f"{path} records no stage outputs")


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(cwd: Path) -> dict[str, Any]:
    """{"commit": sha or NO_GIT, "dirty": bool or None} of the repository holding `cwd`."""
    commit = _git(["rev-parse", "HEAD"], cwd)
    if commit is None:
        return {"commit": NO_GIT, "dirty": None}
    status = _git(["status", "--porcelain"], cwd) or ""
    # The stage's own scratch output folder (.NAME.partial-PID) exists while this runs: it is
    # not a change to the code, and its name would make the flag depend on the process.
    changes = [line for line in status.splitlines() if ".partial-" not in line]
    return {"commit": commit.strip(), "dirty": bool(changes)}


def environment() -> dict[str, str]:
    """Interpreter, platform and library versions of the running kernel."""
    import keras
    import matplotlib
    import numpy
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "matplotlib": matplotlib.__version__,
    }
