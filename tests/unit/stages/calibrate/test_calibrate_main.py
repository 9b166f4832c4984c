"""The calibrate stage end to end on tiny real shards (transform at 32x32) and a tiny U-Net.

TensorFlow is imported once per session (tf_configured); each in-process run then takes about
a second. One `python -m` run pays the import again to prove the command line and that a fresh
process writes the same bytes.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pedigree.errors import ParamsError, PedigreeError, SourceError
from stages.calibrate.__main__ import CALIBRATION_JSON, METHOD, RELIABILITY_CSV, main
from stages.calibrate.reliability import CSV_FIELDS
from stages.common.data import CALIBRATION, SplitAccessError, SplitReader
from stages.common.metrics import nll
from tests.unit.stages.calibrate.conftest import SIZE, calibrate_params

ROOT = Path(__file__).resolve().parents[4]
BINS = 15


def run(params: Path, prepared: Path, model: Path, out: Path) -> int:
    argv = ["--params", str(params), "--prepared", str(prepared)]
    return main([*argv, "--model", str(model), "--out", str(out)])


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(autouse=True)
def hash_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONHASHSEED", "0")


@pytest.fixture(scope="module")
def params(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return calibrate_params(tmp_path_factory.mktemp("calib-params") / "params.yaml", bins=BINS)


@pytest.fixture(scope="module")
def first_run(
    calib_prepared: Path, tiny_model: Path, params: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("calib-run") / "calibration"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONHASHSEED", "0")
        assert run(params, calib_prepared, tiny_model, out) == 0
    return out


def read_doc(folder: Path) -> dict[str, Any]:
    return json.loads((folder / CALIBRATION_JSON).read_text())


def test_outputs_and_fields(first_run: Path, calib_prepared: Path) -> None:
    assert sorted(p.name for p in first_run.iterdir()) == [CALIBRATION_JSON, RELIABILITY_CSV]
    doc = read_doc(first_run)
    images = json.loads((calib_prepared / "calibration" / "index.json").read_text())["count"]
    assert doc["split"] == "calibration" and doc["method"] == METHOD and doc["bins"] == BINS
    assert doc["images"] == images > 0
    assert doc["pixels"] == doc["pixels_total"] == images * SIZE * SIZE
    assert doc["subsampled"] is False
    assert set(doc["optimizer"]) >= {"bounds", "evaluations", "converged", "kept_uncalibrated"}
    assert doc["determinism"]["seed"] == 1234 and doc["determinism"]["python_hash_seed"] == "0"
    assert len(doc["model"]["sha256"]) == 64
    # The tiny model is over-confident by construction: T softens it and lowers the NLL.
    assert doc["temperature"] > 1.0 and not doc["optimizer"]["kept_uncalibrated"]
    assert doc["nll"]["after"] <= doc["nll"]["before"]
    assert doc["ece"]["after"] < doc["ece"]["before"]


def test_reliability_csv_has_a_row_per_bin(first_run: Path) -> None:
    doc = read_doc(first_run)
    with (first_run / RELIABILITY_CSV).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == BINS and tuple(rows[0]) == CSV_FIELDS
    for side in ("before", "after"):
        assert sum(int(r[f"count_{side}"]) for r in rows) == doc["pixels"]
        weighted = sum(
            int(r[f"count_{side}"])
            * abs(float(r[f"accuracy_{side}"]) - float(r[f"confidence_{side}"]))
            for r in rows
            if r[f"count_{side}"] != "0"
        )
        assert weighted / doc["pixels"] == pytest.approx(doc["ece"][side], abs=1e-5)


def test_nll_matches_an_independent_pass(
    first_run: Path, calib_prepared: Path, tiny_model: Path
) -> None:
    """Recompute the NLL from the model directly: the stage's numbers are the model's."""
    import numpy as np
    import tensorflow as tf

    from stages.common.data import dataset
    from stages.common.modelio import load_model

    reader = SplitReader(calib_prepared, CALIBRATION, "test-check")
    data = dataset(tf, reader.files("calibration"), reader.stats(), SIZE, 8, 0, training=False)
    model = load_model(tiny_model)
    pairs = [(np.asarray(model(x, training=False)), np.asarray(y)) for x, y in data]
    logits = np.concatenate([p[0] for p in pairs])
    labels = np.concatenate([p[1] for p in pairs])
    doc = read_doc(first_run)
    assert nll(logits, labels, 1.0) == pytest.approx(doc["nll"]["before"], abs=1e-5)
    assert nll(logits, labels, doc["temperature"]) == pytest.approx(doc["nll"]["after"], abs=1e-5)


def test_byte_identical_rerun(
    first_run: Path, calib_prepared: Path, tiny_model: Path, params: Path, tmp_path: Path
) -> None:
    assert run(params, calib_prepared, tiny_model, tmp_path / "again") == 0
    assert outputs(tmp_path / "again") == outputs(first_run)


def test_command_line_in_a_fresh_process_gives_the_same_bytes(
    first_run: Path, calib_prepared: Path, tiny_model: Path, params: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cli"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    args = ["--params", str(params), "--prepared", str(calib_prepared), "--model", str(tiny_model)]
    done = subprocess.run(
        [sys.executable, "-m", "stages.calibrate", *args, "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "calibrate: T = " in done.stdout and "NLL" in done.stdout
    assert outputs(out) == outputs(first_run)


def test_seeded_subsample(
    calib_prepared: Path, tiny_model: Path, tmp_path: Path, first_run: Path
) -> None:
    params = calibrate_params(tmp_path / "params.yaml", max_pixels=1500)
    assert run(params, calib_prepared, tiny_model, tmp_path / "a") == 0
    assert run(params, calib_prepared, tiny_model, tmp_path / "b") == 0
    doc = read_doc(tmp_path / "a")
    assert doc["pixels"] == 1500 < doc["pixels_total"] and doc["subsampled"] is True
    assert doc["nll"]["after"] <= doc["nll"]["before"]
    assert outputs(tmp_path / "a") == outputs(tmp_path / "b")


def test_never_reads_the_test_split(
    calib_prepared: Path,
    tiny_model: Path,
    params: Path,
    tmp_path: Path,
    first_run: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prepared = tmp_path / "prepared"
    shutil.copytree(calib_prepared, prepared)
    shutil.rmtree(prepared / "test")
    asked: list[str] = []
    original = SplitReader.files

    def spy(self: SplitReader, split: str) -> Any:
        asked.append(split)
        return original(self, split)

    monkeypatch.setattr(SplitReader, "files", spy)
    assert run(params, prepared, tiny_model, tmp_path / "out") == 0
    assert asked == ["calibration"]
    assert outputs(tmp_path / "out") == outputs(first_run)  # same result without test on disk
    with pytest.raises(SplitAccessError, match="stage 'calibrate' may not read the test split"):
        SplitReader(calib_prepared, CALIBRATION, "calibrate").files("test")


def test_missing_model(calib_prepared: Path, params: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="run the train stage first"):
        run(params, calib_prepared, tmp_path / "nope.keras", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unloadable_model(calib_prepared: Path, params: Path, tmp_path: Path) -> None:
    broken = tmp_path / "model.keras"
    broken.write_bytes(b"not a zip")
    with pytest.raises(SourceError, match="not a loadable Keras model"):
        run(params, calib_prepared, broken, tmp_path / "out")


def test_model_input_size_disagrees_with_params(
    calib_prepared: Path, tiny_model: Path, tmp_path: Path
) -> None:
    params = calibrate_params(tmp_path / "params.yaml", input_size=64)
    with pytest.raises(
        SourceError, match=r"inputs of shape \(32, 32, 3\).*model\.input_size is 64"
    ):
        run(params, calib_prepared, tiny_model, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_empty_calibration_split(
    calib_prepared: Path, tiny_model: Path, params: Path, tmp_path: Path
) -> None:
    prepared = tmp_path / "prepared"
    shutil.copytree(calib_prepared, prepared)
    for shard in (prepared / "calibration").glob("*.tfrecord"):
        shard.unlink()
    index = {"count": 0, "shards": [], "split": "calibration"}
    (prepared / "calibration" / "index.json").write_text(json.dumps(index))
    with pytest.raises(SourceError, match="calibration split .* is empty"):
        run(params, prepared, tiny_model, tmp_path / "out")


def test_index_disagreeing_with_shards(
    calib_prepared: Path, tiny_model: Path, params: Path, tmp_path: Path
) -> None:
    prepared = tmp_path / "prepared"
    shutil.copytree(calib_prepared, prepared)
    path = prepared / "calibration" / "index.json"
    index = json.loads(path.read_text())
    index["count"] += 1
    path.write_text(json.dumps(index))
    with pytest.raises(SourceError, match="index.json says .* samples but its shards hold"):
        run(params, prepared, tiny_model, tmp_path / "out")


def test_bad_params_are_located(calib_prepared: Path, tiny_model: Path, tmp_path: Path) -> None:
    params = calibrate_params(tmp_path / "params.yaml", bins=1)
    with pytest.raises(ParamsError, match=r"params\.yaml:\d+ \[calibrate\.bins\]"):
        run(params, calib_prepared, tiny_model, tmp_path / "out")


def test_hash_seed_is_required(
    calib_prepared: Path,
    tiny_model: Path,
    params: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYTHONHASHSEED")
    with pytest.raises(PedigreeError, match="PYTHONHASHSEED is not fixed"):
        run(params, calib_prepared, tiny_model, tmp_path / "out")


def test_bad_params_exit_code_from_the_command_line(tmp_path: Path) -> None:
    params = calibrate_params(tmp_path / "params.yaml", bounds="[3.0, 2.0]")
    done = subprocess.run(
        [sys.executable, "-m", "stages.calibrate", "--params", str(params)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "error:" in done.stderr and "calibrate.temperature_bounds" in done.stderr
