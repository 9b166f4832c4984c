"""The git commit a run starts from and whether tracked files differ from it.

Untracked files do not make a checkout dirty (as with `git describe --dirty`): a stage's own
scratch output folder or a user's stray notes are not changes to the code that ran.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path


def git(root: Path, *args: str) -> str | None:
    """`git ARGS` in `root`: its output, stripped; None when git is missing or fails."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(root: Path, paths: Sequence[str] = ()) -> tuple[str | None, bool | None]:
    """(HEAD commit, dirty?) of the repository holding `root`; (None, None) outside git.

    With `paths`, only changes under them count: a stage's code is dirty when its own code and
    lock differ from the commit, not when a run has just rewritten dvc.lock or a metrics file.
    """
    head = git(root, "rev-parse", "HEAD")
    if head is None:
        return None, None
    pathspec = ["--", *paths] if paths else []
    status = git(root, "status", "--porcelain", "--untracked-files=no", *pathspec)
    return head, None if status is None else bool(status)
