"""Where the evaluated artefacts came from: hashes, dvc.lock, interpreter and libraries.

Everything here is read-only and tolerant: a missing dvc.lock is a fact to report ("no dvc.lock
yet"), not an error. Only what the report's inputs determine goes into the report, so that
re-running evaluate on the same inputs gives the same bytes (`pedigree verify`): the git commit,
the run's times and the interpreter's location belong to the run, and are in its lineage record
(lineage/evaluate.json).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

from pedigree.errors import ToolError
from pedigree.stagekit import read_lock_stages, sha256_file, sha256_tree

NO_LOCK = "no dvc.lock yet"


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


def _overlaps(out: str, inputs: list[str]) -> bool:
    return any(
        out == i or i.startswith(out.rstrip("/") + "/") or out.startswith(i.rstrip("/") + "/")
        for i in inputs
    )


def lock_outputs(path: Path, inputs: list[str]) -> LockOutputs:
    """The dvc.lock outs (path and md5) that the evaluated `inputs` are, contain or lie in.

    Only outputs upstream of the report: evaluate's own entry (and release's) describe earlier
    runs, and would make the report depend on the history of dvc.lock.
    """
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
            if isinstance(out, dict) and _overlaps(str(out.get("path", "")), inputs):
                digest = out.get("md5") or out.get("hash") or "?"
                rows.append((str(stage), str(out.get("path", "?")), str(digest)))
    return LockOutputs(rows, None if rows else f"{path} records no stage outputs")


def environment() -> dict[str, str]:
    """Interpreter, platform and library versions of the running kernel."""
    import keras
    import matplotlib
    import numpy
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "matplotlib": matplotlib.__version__,
    }
