"""Shared fixtures: a minimal pedigree project in a temporary folder."""

from __future__ import annotations

import hashlib
import signal
import textwrap
from pathlib import Path

import pytest

# A suite started with SIGINT ignored (a background job of a non-interactive shell) would pass
# that on to every process the tests start, and the Ctrl-C tests would see Ctrl-C ignored.
# With a handler here, the processes the tests start get the default disposition again.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO_ROOT = Path(__file__).resolve().parents[1]

VALID_SPEC = """\
apiVersion: pedigree/v1
kind: Pipeline
metadata:
  name: pets
spec:
  stages:
    - name: ingest
      cmd: [python, -m, stages.ingest, --out, data/raw]
      params: [ingest]
      outs: [data/raw]
    - name: transform
      cmd: [python, -m, stages.transform]
      deps: [data/raw]
      params: [transform]
      outs: [data/prepared]
      resources: {cpu: 1, memory: 2Gi}
      retries: 2
"""


def make_project(
    root: Path, spec: str = VALID_SPEC, stages: tuple[str, ...] = ("ingest", "transform")
) -> Path:
    """Write a minimal project (spec, stage folders, locks, params) under `root`."""
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "pipelines" / "pets.yaml").write_text(textwrap.dedent(spec), encoding="utf-8")
    for name in stages:
        (root / "stages" / name).mkdir(parents=True, exist_ok=True)
        (root / "stages" / name / "__init__.py").write_text("", encoding="utf-8")
        (root / "images" / name).mkdir(parents=True, exist_ok=True)
        (root / "images" / name / "requirements.lock").write_text(
            "pyyaml==6.0.3 \\\n    --hash=sha256:00\n", encoding="utf-8"
        )
    (root / "params.yaml").write_text(
        "ingest:\n  seed: 1\ntransform:\n  size: 8\n", encoding="utf-8"
    )
    return root


def pets_copy(root: Path) -> Path:
    """The pets pipeline's spec, params, stage code, images and committed reports in `root`
    (and an empty registry, a declared input of release): enough to load and compile it."""
    import shutil

    for name in ("pipelines", "stages", "images", "replicates", "reports"):
        shutil.copytree(REPO_ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO_ROOT / "params.yaml", root / "params.yaml")
    (root / "registry" / "pets").mkdir(parents=True)
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A minimal valid project."""
    return make_project(tmp_path / "proj")


# Thread counts every in-process test uses. TensorFlow fixes its thread pools at its first op and
# refuses different counts afterwards, so they are set once, before any test can run an op.
TEST_INTRA_OP_THREADS = 2
TEST_INTER_OP_THREADS = 1


def pytest_configure(config: pytest.Config) -> None:
    """Fix TensorFlow's thread counts for the whole session (stage tests use the same)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # what the stage launcher sets
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - the project's .venv always has it
        return
    tf.config.threading.set_intra_op_parallelism_threads(TEST_INTRA_OP_THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(TEST_INTER_OP_THREADS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the costly test files first and the many quick unit tests last, so that the
    processes of `make test` (pytest-xdist, whole files each) finish together: first the end-to-end
    files that build their own projects and the stage tests that train in this process, then
    those that copy the shared ran template (built in the background meanwhile), then the rest.
    The order within a file is kept."""
    from tests.integration import template  # it imports this module

    copies = template.users(items)

    def group(item: pytest.Item) -> int:
        if item.path.is_relative_to(REPO_ROOT / "tests" / "integration"):
            return 1 if item.path in copies else 0
        return 0 if item.path.is_relative_to(REPO_ROOT / "tests" / "unit" / "stages") else 2

    items.sort(key=group)  # stable


# The project's own records: no test, benchmark or tool may add, change or remove one (issue: a
# benchmark once left lineage/bench-*.json behind and `pedigree audit` failed on the next run).
GUARDED_FOLDERS = (
    "lineage",
    "replicates",
    "models",
    "reports",
    "cluster-conf/serving",
    "cluster-conf/images",
)
GUARDED_FILES = ("dvc.lock", "dvc.yaml", "params.yaml", ".dvcignore", ".gitignore")


def project_records_fingerprint(root: Path = REPO_ROOT) -> dict[str, str]:
    """sha256 of every file a run records in the project (folders walked, symlinks not followed)."""
    found: dict[str, str] = {}
    paths = [root / name for name in GUARDED_FILES]
    for folder in GUARDED_FOLDERS:
        base = root / folder
        if base.is_dir():
            paths += [p for p in base.rglob("*") if p.is_file() or p.is_symlink()]
    for path in paths:
        if path.is_symlink():
            found[path.relative_to(root).as_posix()] = "symlink -> " + str(path.readlink())
        elif path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[path.relative_to(root).as_posix()] = digest
    return found


def pytest_sessionstart(session: pytest.Session) -> None:
    """Remember the project's records before any test runs."""
    session.config.stash[_RECORDS_KEY] = project_records_fingerprint()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when a test touched the project's records (they must work in tmp dirs)."""
    before = session.config.stash.get(_RECORDS_KEY, None)
    if before is None:
        return
    after = project_records_fingerprint()
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    if changed:
        import sys

        sys.stderr.write(
            "\nERROR: the test session changed the project's own records (tests must work in "
            "temporary folders): " + ", ".join(changed) + "\n"
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_RECORDS_KEY = pytest.StashKey[dict[str, str]]()
