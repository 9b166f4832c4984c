"""train: byte-identical model files from two separate processes; outputs and bad inputs."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

TINY = {
    "ingest": {
        "source": "synthetic",
        "sha256": None,
        "synthetic": {"seed": 3, "count": 48, "images_per_animal": [2, 3], "image_size": [48, 64]},
    },
    "transform": {
        "image_size": [32, 32],
        "shard_size": 8,
        "split": {
            "buckets": 10,
            "train": [0, 1, 2, 3, 4, 5],
            "validation": [6, 7],
            "calibration": [8],
            "test": [9],
        },
    },
    "model": {"input_size": 32, "depth": 2, "base_filters": 4, "dropout": 0.1, "dice_weight": 1.0},
    "determinism": {
        "seed": 7,
        "intra_op_threads": 2,
        "inter_op_threads": 2,
        "op_determinism": True,
    },
    "train": {"epochs": 2, "patience": 2},
}
BEST = {"params": {"learning_rate": 0.003, "batch_size": 4, "base_filters": 4, "dropout": 0.1}}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "src")])
    env.pop("PYTHONHASHSEED", None)  # the launcher must set it
    return env


def _stage(root: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pedigree.launch", "--stage", name, "--"]
    argv += [sys.executable, "-m", f"stages.{name}", *args]
    return subprocess.run(argv, cwd=root, env=_env(), capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    (root / "params.yaml").write_text(yaml.safe_dump(TINY), encoding="utf-8")
    for stage in ("ingest", "transform"):
        result = _stage(root, stage)
        assert result.returncode == 0, result.stdout + result.stderr
    (root / "models" / "tune").mkdir(parents=True)
    (root / "models" / "tune" / "best_params.json").write_text(json.dumps(BEST), encoding="utf-8")
    return root


def _train(root: Path, tag: str) -> Path:
    out = root / f"run-{tag}"
    result = _stage(
        root,
        "train",
        "--model",
        str(out / "model.keras"),
        "--out",
        str(out / "train"),
        "--logs",
        str(out / "tensorboard"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_processes_write_byte_identical_models(project: Path) -> None:
    first, second = _train(project, "a"), _train(project, "b")
    for name in ("model.keras", "train/history.csv", "train/metrics.json", "train/train.json"):
        assert _digest(first / name) == _digest(second / name), name
    history = list(csv.DictReader((first / "train" / "history.csv").open()))
    assert [row["epoch"] for row in history] == ["1", "2"]
    assert set(history[0]) == {"epoch", "loss", "val_loss", "val_mean_iou"}
    metrics = json.loads((first / "train" / "metrics.json").read_text())
    assert set(metrics["iou"]) == {"pet", "background", "border"} and 0 <= metrics["mean_iou"] <= 1
    record = json.loads((first / "train" / "train.json").read_text())["determinism"]
    assert record["python_hash_seed"] == "0" and record["op_determinism"] is True
    assert record["intra_op_threads"] == 2 and record["inter_op_threads"] == 2
    # TensorBoard logs too: fixed file names, epoch-stamped events (verify needs every out).
    logs = sorted(
        p.relative_to(first) for p in (first / "tensorboard").rglob("events.out.tfevents.*")
    )
    assert [p.parent.name for p in logs] == ["train", "validation"]
    for name in logs:
        assert _digest(first / name) == _digest(second / name), name


def test_model_loads_with_one_call(project: Path) -> None:
    out = project / "run-a"
    if not (out / "model.keras").exists():
        out = _train(project, "a")
    code = (
        "import keras, numpy as np, sys; m = keras.models.load_model(sys.argv[1]); "
        "print(m(np.zeros((1, 32, 32, 3), 'float32')).shape)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(out / "model.keras")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "(1, 32, 32, 3)" in result.stdout


def test_refuses_to_run_without_a_fixed_hash_seed(project: Path) -> None:
    env = _env()
    result = subprocess.run(
        [sys.executable, "-m", "stages.train", "--model", "x.keras"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "PYTHONHASHSEED is not fixed" in result.stderr


def test_missing_best_params_is_a_clear_error(project: Path, tmp_path: Path) -> None:
    result = _stage(project, "train", "--best-params", str(tmp_path / "none.json"))
    assert result.returncode == 2
    assert "none.json is missing" in result.stdout and "run the tune stage first" in result.stdout
