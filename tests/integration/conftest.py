"""A real pedigree project in a temporary folder, with real git and real dvc."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.integration import template

BIN = Path(sys.executable).parent
COPIED = (
    "pipelines",
    "stages",
    "images",
    "params.yaml",
    ".dvcignore",
    "dvc.yaml",
    "replicates",
    "reports/label_issues.json",
    "reports/label_issues.csv",
)
TINY_PARAMS = {
    "ingest": {"synthetic": {"count": 48, "images_per_animal": [2, 3], "image_size": [48, 64]}},
    "transform": {
        "image_size": [32, 32],
        "shard_size": 8,
        # wider validation share, so that 48 images leave samples in every split
        "split": {"train": [0, 1, 2, 3, 4, 5], "validation": [6, 7]},
    },
    # depth 1: each level adds layers to trace (seconds per stage); tests/unit/stages/train
    # builds and trains depth 2
    "model": {"input_size": 32, "depth": 1, "base_filters": 4, "dropout": 0.0},
    "tune": {
        # one trial: a pipeline test needs tune's outputs, not a search (each trial costs a
        # model build and a trace; tests/unit/stages/tune runs studies of several trials)
        "trials": 1,
        "epochs": 1,
        "random_trials": 1,
        "search_space": {"batch_size": [8], "base_filters": [4]},
        "pruner": {"startup_trials": 1, "warmup_epochs": 0},
    },
    "train": {"epochs": 2, "patience": 1},
    "evaluate": {"batch_size": 8, "examples": 2},
    # A two-epoch model on 48 images is weak: the gate's thresholds must let it through once.
    "release": {"thresholds": {"mean_iou": {"min": 0.05}, "ece.calibrated": {"max": 0.5}}},
}
ALL_STAGES = ("ingest", "transform", "tune", "train", "calibrate", "evaluate", "release")


def project_env() -> dict[str, str]:
    """Environment for commands run in a test project: this .venv first, no telemetry."""
    env = dict(os.environ)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env.update(
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="pedigree-tests",
        GIT_AUTHOR_EMAIL="tests@example.invalid",
        GIT_COMMITTER_NAME="pedigree-tests",
        GIT_COMMITTER_EMAIL="tests@example.invalid",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("PEDIGREE_STAGE_OUTPUT", None)
    return env


def sh(
    root: Path, *argv: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run a command in the project and capture its output."""
    result = subprocess.run(
        list(argv), cwd=root, env=project_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{argv} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def pedigree(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real `pedigree` console script in the project."""
    return sh(root, str(BIN / "pedigree"), *args, check=check)


def run_outcomes(root: Path, *args: str) -> dict[str, str]:
    """`pedigree run --json` and return {stage: outcome}."""
    result = pedigree(root, "run", "--json", *args)
    return {s["stage"]: s["outcome"] for s in json.loads(result.stdout)["stages"]}


def set_params(root: Path, updates: dict) -> None:
    """Deep-merge `updates` into the project's params.yaml."""
    path = root / "params.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))

    def merge(into: dict, new: dict) -> None:
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    merge(data, updates)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def make_pets_project(root: Path, params: dict | None = None) -> Path:
    """Copy the real pipeline into `root`, make the data tiny, and commit it to a new git repo."""
    root.mkdir(parents=True)
    for name in COPIED:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    # The registry folder (a spec input) without the repository's own events: a new project's
    # registry is empty.
    registry = root / "registry" / "pets"
    registry.mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "registry" / "pets" / "README.md", registry / "README.md")
    # None: the tiny test data; {} (the benchmarks without --tiny): the project's own params.
    set_params(root, TINY_PARAMS if params is None else params)
    sh(root, "git", "init", "-q")
    sh(root, str(BIN / "dvc"), "init", "-q")
    sh(root, str(BIN / "dvc"), "config", "core.analytics", "false")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", "project")
    return root


def git_clone(origin: Path, target: Path) -> Path:
    """`git clone` of `origin` into `target` (a cluster pod's checkout, a user's clone)."""
    sh(origin.parent, "git", "clone", "-q", str(origin), str(target))
    return target


def porcelain_paths(root: Path) -> tuple[str, ...]:
    """The paths `git status` names as changed or new (every untracked file listed)."""
    porcelain = sh(root, "git", "status", "--porcelain", "--untracked-files=all").stdout
    return tuple(line[3:] for line in porcelain.splitlines())


def commit_all(root: Path, message: str) -> tuple[str, ...]:
    """Commit everything; return the paths the commit recorded as changed."""
    changed = porcelain_paths(root)
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", message)
    return changed


@pytest.fixture(scope="session", autouse=True)
def _template_in_background(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Start building the ran template at once, in a process of its own, when a collected test
    needs it: the tests before the first that does go on meanwhile."""
    wanted = template.users(request.session.items)
    builder = template.start(template.common_folder(tmp_path_factory)) if wanted else None
    yield
    if builder is not None:
        template.stop(builder)


@pytest.fixture(scope="session")
def ran_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny pets project after one full `pedigree run` (built once per test run, shared by
    pytest-xdist's processes; tests copy it)."""
    return template.build_once(template.common_folder(tmp_path_factory))


@pytest.fixture
def ran_project(ran_template: Path, tmp_path: Path) -> Path:
    """A private copy of the ran template."""
    target = tmp_path / "pets"
    shutil.copytree(ran_template, target, symlinks=True)
    return target


DEMO_SPEC = """\
apiVersion: pedigree/v1
kind: Pipeline
metadata:
  name: demo
spec:
  inputs: [data/source.txt]
  stages:
    - name: steady
      cmd: [python, -m, stages.steady]
      deps: [data/source.txt]
      params: [steady]
      outs: [data/steady]
    - name: noisy
      cmd: [python, -m, stages.noisy]
      deps: [data/steady]
      outs: [data/noisy.bin]
"""
DEMO_STEADY = """\
import pathlib, yaml
factor = yaml.safe_load(pathlib.Path("params.yaml").read_text())["steady"]["factor"]
out = pathlib.Path("data/steady"); out.mkdir(exist_ok=True)
text = pathlib.Path("data/source.txt").read_text()
(out / "upper.txt").write_text(text.upper() * factor)
(out / "lines.txt").write_text(str(len(text.splitlines())))
"""
# Deliberately not deterministic: fresh random bytes on every run.
DEMO_NOISY = """\
import os, pathlib
pathlib.Path("data/noisy.bin").write_bytes(pathlib.Path("data/steady/lines.txt").read_bytes() + os.urandom(16))
"""


def write_small_project(
    root: Path,
    spec: str,
    params: str,
    stages: Mapping[str, Mapping[str, str]],
    files: Mapping[str, str] | None = None,
) -> Path:
    """Write a small project: pipelines/<name>.yaml (`spec`), params.yaml, each stage's code
    (stage name -> {file name: text} under stages/<stage>/) with a pinned lock, the project's
    .dvcignore, and `files` (repo-relative path -> text). Nothing is initialised or run."""
    name = yaml.safe_load(spec)["metadata"]["name"]
    (root / "pipelines").mkdir(parents=True)
    (root / "pipelines" / f"{name}.yaml").write_text(spec, encoding="utf-8")
    (root / "params.yaml").write_text(params, encoding="utf-8")
    (root / "stages").mkdir()
    (root / "stages" / "__init__.py").write_text("")
    for stage, code in stages.items():
        (root / "stages" / stage).mkdir()
        for file_name, text in code.items():
            (root / "stages" / stage / file_name).write_text(text, encoding="utf-8")
        (root / "images" / stage).mkdir(parents=True)
        (root / "images" / stage / "requirements.lock").write_text("pyyaml==6.0.3\n")
    shutil.copy2(REPO_ROOT / ".dvcignore", root / ".dvcignore")
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def init_repos(root: Path) -> Path:
    """`git init` and `dvc init` (analytics off) in `root`."""
    sh(root, "git", "init", "-q")
    sh(root, str(BIN / "dvc"), "init", "-q")
    sh(root, str(BIN / "dvc"), "config", "core.analytics", "false")
    return root


def run_and_commit(root: Path) -> Path:
    """`pedigree run`, then commit everything."""
    pedigree(root, "run")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", "ran")
    return root


def make_demo_project(root: Path) -> Path:
    """A two-stage project whose stages take a second: steady (deterministic), then noisy
    (random bytes on every run); run once and committed."""
    write_small_project(
        root,
        DEMO_SPEC,
        "steady:\n  factor: 2\n",
        {"steady": {"__main__.py": DEMO_STEADY}, "noisy": {"__main__.py": DEMO_NOISY}},
        {"data/source.txt": "one\ntwo\n"},
    )
    return run_and_commit(init_repos(root))
