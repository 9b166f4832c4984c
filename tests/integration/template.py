"""The ran template: a tiny pets project after one full `pedigree run`, committed, that most
integration tests copy. It is built once per test run, in a process of its own started when the
session starts, so the tests that do not need it go on meanwhile; with pytest-xdist the worker
processes share it through a file lock in their common temporary folder.

`python -m tests.integration.template FOLDER` builds it under FOLDER (what `start` runs).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from filelock import FileLock

from tests.conftest import REPO_ROOT

NAME = "template"
FIXTURE = "ran_template"  # the session fixture (tests/integration/conftest.py) that returns it
# Beside the project (in its parent folder): what its first `pedigree run` printed, and the
# paths that run changed (one per line).
FIRST_RUN_STDOUT = "first-run.stdout"
FIRST_RUN_CHANGED = "first-run.changed"


def build(folder: Path) -> Path:
    """Make the tiny project under `folder`, run every stage, commit; return the project."""
    from tests.integration.conftest import ALL_STAGES, commit_all, make_pets_project, pedigree

    root = make_pets_project(folder / "pets")
    # as in the repository: pedigree's own folder (logs, locks) is never committed
    (root / ".gitignore").write_text(".pedigree/\n", encoding="utf-8")
    commit_all(root, "ignore .pedigree")
    result = pedigree(root, "run")
    done = f"done: ran {len(ALL_STAGES)} of {len(ALL_STAGES)} stages"
    if done not in result.stdout:
        raise AssertionError(f"the template's first run did not run every stage:\n{result.stdout}")
    # what the first run printed and changed, for the tests of what a first run says
    (folder / FIRST_RUN_STDOUT).write_text(result.stdout, encoding="utf-8")
    changed = commit_all(root, "first run")
    (folder / FIRST_RUN_CHANGED).write_text("\n".join(changed), encoding="utf-8")
    return root


def users(items: Iterable[pytest.Item]) -> set[Path]:
    """The test files with a test that copies the ran template (through any fixture)."""
    return {item.path for item in items if FIXTURE in getattr(item, "fixturenames", ())}


def common_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every process of this test run sees: the parent of pytest-xdist's worker
    folders, or the session's own temporary folder without xdist."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build_once(common: Path) -> Path:
    """The built project, building it here when no process has (one at a time, by file lock;
    a build a process left half-way is started again)."""
    done = common / f"{NAME}.built"
    with FileLock(str(common / f"{NAME}.lock")):
        if not done.is_file():
            folder = common / NAME
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir()
            done.write_text(str(build(folder)), encoding="utf-8")
    return Path(done.read_text(encoding="utf-8"))


def start(common: Path) -> subprocess.Popen[bytes]:
    """Build it in the background (`build_once` in a new process, its output in the common
    folder's template-<pid>.log); it has this process's environment as it is now, before any
    test changes it."""
    log = (common / f"{NAME}-{os.getpid()}.log").open("wb")
    with log:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.integration.template", str(common)],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so that `stop` ends its children too
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a background build that is still going (this process's tests are over; another
    process that still needs it builds it again)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


if __name__ == "__main__":
    build_once(Path(sys.argv[1]))
