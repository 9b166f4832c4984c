"""Shared fixtures: a minimal pedigree project in a temporary folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

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
