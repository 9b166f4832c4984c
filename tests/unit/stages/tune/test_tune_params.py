"""The tune params refuse bad values with messages that say how to fix them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pedigree.errors import ParamsError
from pedigree.stagekit import load_params
from stages.tune.params import TuneParams
from tests.unit.stages.tune.conftest import write_tune_params

ROOT = Path(__file__).resolve().parents[4]

GOOD: dict[str, Any] = {
    "trials": 4,
    "epochs": 2,
    "seed": 1,
    "random_trials": 2,
    "max_train_samples": None,
    "search_space": {
        "learning_rate": {"low": 0.001, "high": 0.01, "log": True},
        "batch_size": [8, 16],
        "base_filters": [8],
        "dropout": {"low": 0, "high": 0.3},
    },
    "pruner": {"startup_trials": 1, "warmup_epochs": 1},
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    """GOOD with the dotted `path` set to `value` (or removed when value is ...)."""
    data = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return data


def test_project_params_yaml_has_a_valid_tune_section() -> None:
    params = load_params("tune", TuneParams, ROOT / "params.yaml")
    assert params.trials >= params.random_trials >= 1
    assert params.search_space.learning_rate.log is True


def test_good_params_and_an_int_where_a_float_is_expected() -> None:
    params = TuneParams.model_validate(GOOD)
    assert params.search_space.dropout.low == 0.0  # YAML `0` is fine for a float
    assert params.search_space.base_filters == (8,)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "search_space.learning_rate",
            {"low": 0.01, "high": 0.001},
            r"low \(0\.01\) must be below high \(0\.001\)",
        ),
        ("search_space.learning_rate", {"low": 0.01, "high": 0.01}, r"must be below high"),
        (
            "search_space.dropout",
            {"low": 0.0, "high": 0.3, "log": True},
            r"log-scale range needs low > 0 \(got low: 0\.0\)",
        ),
        (
            "search_space.learning_rate",
            {"low": 0.0, "high": 0.1},
            r"learning_rate must lie strictly between 0 and 1\.0",
        ),
        (
            "search_space.learning_rate",
            {"low": 0.01, "high": 2.0, "log": True},
            r"learning_rate must lie strictly between 0 and 1\.0",
        ),
        ("search_space.dropout", {"low": 0.5, "high": 1.0}, r"dropout must lie in \[0, 1\.0\)"),
        (
            "search_space.learning_rate",
            {"low": "5e-4", "high": 0.01},
            r"'5e-4' is read as text, not a number .*write it like 0\.0005 or 5\.0e-4",
        ),
        (
            "search_space.learning_rate",
            {"low": 0.001, "high": 0.01, "log": "yes"},
            r"valid boolean",
        ),
        ("search_space.dropout", {"low": True, "high": 0.3}, r"valid number"),
        (
            "search_space.dropout",
            {"low": 0.0, "high": 0.3, "step": 0.1},
            r"Extra inputs are not permitted",
        ),
        ("search_space.batch_size", [], r"batch_size needs at least one value to choose from"),
        (
            "search_space.batch_size",
            [8, 0],
            r"batch_size value\(s\) \[0\] out of range: each must be between 1 and 1024",
        ),
        (
            "search_space.base_filters",
            [2, 8],
            r"base_filters value\(s\) \[2\] out of range: each must be between 4 and 128",
        ),
        ("search_space.base_filters", [8, 8], r"base_filters lists \[8\] more than once"),
        ("search_space.batch_size", [8.5], r"valid integer"),
        ("search_space.batch_size", 8, r"valid tuple"),
        ("search_space.momentum", [0.9], r"Extra inputs are not permitted"),
        ("search_space.dropout", ..., r"Field required"),
        ("trials", 0, r"trials must be 1 or more \(got 0\)"),
        ("trials", True, r"valid integer"),
        ("epochs", 0, r"epochs must be 1 or more"),
        ("seed", -1, r"seed must be 0 or more"),
        ("random_trials", 5, r"random_trials \(5\) is above trials \(4\): TPE would never run"),
        ("max_train_samples", 0, r"max_train_samples must be 1 or more"),
        ("pruner.warmup_epochs", -1, r"pruner warmup_epochs must be 0 or more"),
        ("pruner.patience", 3, r"Extra inputs are not permitted"),
        ("sampler", "tpe", r"Extra inputs are not permitted"),
    ],
)
def test_bad_params(path: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TuneParams.model_validate(with_change(path, value))


def test_bad_params_in_a_file_name_the_line_and_key_path(tmp_path: Path) -> None:
    section = """
tune:
  trials: 3
  epochs: 2
  seed: 99
  random_trials: 2
  search_space:
    learning_rate: {low: 0.01, high: 0.001, log: true}
    batch_size: [2, 4]
    base_filters: [4, 8]
    dropout: {low: 0.0, high: 0.2}
  pruner: {startup_trials: 1, warmup_epochs: 1}
"""
    params = write_tune_params(tmp_path / "params.yaml", section)
    line = (
        params.read_text()
        .splitlines()
        .index("    learning_rate: {low: 0.01, high: 0.001, log: true}")
        + 1
    )
    with pytest.raises(
        ParamsError,
        match=rf"params\.yaml:{line} \[tune\.search_space\.learning_rate\]: low \(0\.01\) must be below high",
    ):
        load_params("tune", TuneParams, params)
