"""Fixtures for the tune stage: a tiny project (params.yaml + data/prepared from real transform).

data/raw is built with the transform tests' builders and turned into shards by the real transform
stage, so tune is tested on exactly what it reads in the pipeline. Images are 32x32 (tune's
input pipeline needs square images) and the model is a depth-2 U-Net at 32 px, so a trial costs
little more than its graph tracing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pedigree.stagekit import load_params
from stages.transform.params import TransformParams
from stages.transform.pipeline import run_transform
from tests.unit.stages.transform.conftest import animals_per_split, build_raw, write_params

ROOT = Path(__file__).resolve().parents[4]
OUTPUT = "tune-output.txt"

# Appended to the transform section that write_params writes. Thread counts as in the real
# params.yaml (results depend on them).
MODEL_SECTIONS = """
model:
  input_size: 32
  depth: 1
  base_filters: 4
  dropout: 0.0
  dice_weight: 1.0

determinism:
  seed: 7
  intra_op_threads: 2
  inter_op_threads: 1
  op_determinism: true
"""

TUNE_SECTION = """
tune:
  trials: 3
  epochs: 2
  seed: 99
  random_trials: 2
  max_train_samples: null
  search_space:
    learning_rate: {low: 0.001, high: 0.02, log: true}
    batch_size: [2, 4]
    base_filters: [4, 8]
    dropout: {low: 0.0, high: 0.2}
  pruner:
    startup_trials: 1
    warmup_epochs: 1
"""


def write_tune_params(path: Path, tune_section: str = TUNE_SECTION) -> Path:
    """A complete params.yaml for the tiny project (transform, model, determinism, tune)."""
    write_params(path, height=32, width=32, shard_size=4)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(MODEL_SECTIONS + tune_section)
    return path


def copy_project(source: Path, target: Path) -> Path:
    """A private copy of a tiny project (stage outputs must not collide between runs)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("raw", "models", ".pedigree"))
    return target


def stage_env() -> dict[str, str]:
    """The environment for running the stage in a subprocess from a temporary project."""
    env = dict(os.environ)
    env.pop("PEDIGREE_STAGE_OUTPUT", None)  # the launcher passes the stage's output through
    paths = [str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def start_tune(project: Path) -> subprocess.Popen[bytes]:
    """Start `python -m stages.tune` in `project` through the stage launcher (fixed hash seed).

    Output goes to `project/tune-output.txt` (a file, not a pipe: runs go in parallel and a full
    pipe nobody reads would stall one).
    """
    command = [sys.executable, "-m", "pedigree.launch", "--stage", "tune", "--"]
    command += ["python", "-m", "stages.tune"]
    with (project / OUTPUT).open("wb") as output:
        return subprocess.Popen(
            command, cwd=project, env=stage_env(), stdout=output, stderr=subprocess.STDOUT
        )


@pytest.fixture(scope="session")
def tune_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder with params.yaml and data/prepared (all four splits). Read-only."""
    root = tmp_path_factory.mktemp("tune-project")
    animals = animals_per_split({"train": 7, "validation": 2, "calibration": 1, "test": 1})
    raw = build_raw(root / "data", animals)
    params = write_tune_params(root / "params.yaml")
    run_transform(
        load_params("transform", TransformParams, params), raw, root / "data" / "prepared"
    )
    return root
