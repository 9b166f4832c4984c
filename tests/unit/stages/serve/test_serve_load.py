"""Loading: a missing or malformed file or param stops the server with a ServeError, at load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pedigree.errors import ServeError
from stages.serve import load
from tests.unit.stages.serve.conftest import serve_params, write_calibration

pytestmark = pytest.mark.usefixtures("tf_configured")


def with_stats(served: dict, tmp_path: Path, **changes: Any) -> dict[str, Path]:
    """The 16-pixel model's files with stats.json changed (a key set to None is removed)."""
    stats = json.loads(served[16]["stats"].read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            stats.pop(key)
        else:
            stats[key] = value
    path = tmp_path / "stats.json"
    path.write_text(json.dumps(stats), encoding="utf-8")
    return {**served[16], "stats": path}


@pytest.mark.parametrize("role", ["model", "calibration", "stats"])
def test_a_missing_role_is_named(served: dict, role: str) -> None:
    files = {k: v for k, v in served[16].items() if k != role}
    with pytest.raises(ServeError, match=f"needs a '{role}' file, but it was given only"):
        load(files, serve_params(16))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"split": "test"}, r"computed on the 'test' split, not train"),
        ({"mean": None}, r"has no mean: it is not transform's stats.json"),
        ({"std": [0.2, 0.0, 0.2]}, r"'std' must be positive"),
        ({"mean": [0.5, 0.5]}, r"'mean' must be 3 numbers"),
        ({"image_size": [32, 24]}, r"image_size \[32, 24\] is not square"),
        ({"image_size": "32"}, r"'image_size' must be \[height, width\]"),
    ],
)
def test_bad_stats_are_refused(served: dict, tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(ServeError, match=message):
        load(with_stats(served, tmp_path, **changes), serve_params(16))


def test_a_missing_stats_file_is_named(served: dict, tmp_path: Path) -> None:
    files = {**served[16], "stats": tmp_path / "nowhere.json"}
    with pytest.raises(ServeError, match=r"the stats file .*nowhere.json is missing"):
        load(files, serve_params(16))


@pytest.mark.parametrize("temperature", [0, -1.5, True, "1.2", None])
def test_a_bad_temperature_is_refused(served: dict, tmp_path: Path, temperature: object) -> None:
    files = {**served[16], "calibration": write_calibration(tmp_path / "c.json", temperature)}
    with pytest.raises(ServeError, match=r"has no positive finite 'temperature'"):
        load(files, serve_params(16))


def test_the_model_section_is_required(served: dict) -> None:
    with pytest.raises(ServeError, match=r"needs the params.yaml 'model' section"):
        load(served[16], {})


def test_an_invalid_model_section_is_refused(served: dict) -> None:
    params = serve_params(16)
    params["model"]["input_size"] = 20
    with pytest.raises(ServeError, match=r"'model' section is invalid: model.input_size"):
        load(served[16], params)


def test_a_model_for_another_input_size_is_refused(served: dict) -> None:
    with pytest.raises(ServeError, match=r"cannot serve the model: .* takes inputs of shape"):
        load(served[16], serve_params(32))


def test_a_file_that_is_no_model_is_refused(served: dict, tmp_path: Path) -> None:
    fake = tmp_path / "model.keras"
    fake.write_bytes(b"not a zip")
    with pytest.raises(ServeError, match=r"cannot serve the model: .* not a loadable Keras"):
        load({**served[16], "model": fake}, serve_params(16))


def test_other_thread_counts_than_the_running_ones_are_refused(served: dict) -> None:
    params = serve_params(16)
    params["determinism"]["intra_op_threads"] += 1
    with pytest.raises(ServeError, match=r"TensorFlow already runs with other thread counts"):
        load(served[16], params)
