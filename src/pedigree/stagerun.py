"""What the stage launcher (`pedigree.launch`) and the code around it agree on: where a stage's
log is kept, how the argv is resolved, and the launcher's own exit codes.

A leaf module (standard library only): the DVC adapter, the container executor, verify,
replicate and the cluster pull read these without importing the launcher, which itself imports
the container executor and lineage capture.
"""

from __future__ import annotations

import sys
from pathlib import Path

LOG_DIR = Path(".pedigree") / "logs"
RESTORE_ONLY_EXIT = 75  # the stage would have to run, but only restoring is allowed (pull)
UNSAFE_PATH_EXIT = 2  # a path of the stage leads out of the project through a symlink


def stage_log(root: Path, stage: str) -> Path:
    """Where the launcher keeps the output of the last run of `stage`."""
    return root / LOG_DIR / f"{stage}.log"


def resolve_argv(argv: list[str]) -> list[str]:
    """Replace a leading `python` with this interpreter, so the stage uses the same environment."""
    if argv and argv[0] in ("python", "python3"):
        return [sys.executable, *argv[1:]]
    return argv
