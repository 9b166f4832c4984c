"""Where the evaluated artefacts came from: hashes, dvc.lock, git, interpreter and libraries.

Everything here is read-only and tolerant: a missing dvc.lock or a folder outside git is a fact
to report ("no dvc.lock yet", "not a git repository"), not an error.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pedigree.dvclock import read_lock_stages
from pedigree.errors import ToolError
from pedigree.gitstate import git_state as pedigree_git_state
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
    if not path.is_file():
        return LockOutputs([], NO_LOCK)
    try:
        stages = read_lock_stages(path)
    except ToolError as exc:
        return LockOutputs([], f"{path} is not readable YAML ({exc.message})")
    if not stages:
        return LockOutputs([], f"{path} records no stages")
    rows = []
    for stage in sorted(stages):
        entry = stages[stage] if isinstance(stages[stage], dict) else {}
        for out in entry.get("outs") or []:
            if isinstance(out, dict):
                digest = out.get("md5") or out.get("hash") or "?"
                rows.append((str(stage), str(out.get("path", "?")), str(digest)))
    return LockOutputs(rows, None if rows else f"{path} records no stage outputs")


def git_state(cwd: Path) -> dict[str, Any]:
    """{"commit": sha or NO_GIT, "dirty": bool or None} of the repository holding `cwd`."""
    commit, dirty = pedigree_git_state(cwd)
    return {"commit": commit or NO_GIT, "dirty": dirty}


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
