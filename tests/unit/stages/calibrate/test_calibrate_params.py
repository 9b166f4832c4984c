"""The `calibrate` section of params.yaml: strict, located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pedigree.errors import ParamsError
from pedigree.stagekit import load_params
from stages.calibrate.params import CalibrateParams
from tests.unit.stages.calibrate.conftest import calibrate_params

ROOT = Path(__file__).resolve().parents[4]


def test_project_params_are_valid() -> None:
    params = load_params("calibrate", CalibrateParams, ROOT / "params.yaml")
    assert params.bins == 15 and params.temperature_bounds == (0.05, 20.0)


def test_integer_bounds_are_accepted(tmp_path: Path) -> None:
    path = calibrate_params(tmp_path / "params.yaml", bounds="[1, 20]")
    assert load_params("calibrate", CalibrateParams, path).temperature_bounds == (1.0, 20.0)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"bins": 1}, r"params\.yaml:\d+ \[calibrate\.bins\]"),
        ({"bins": 101}, r"\[calibrate\.bins\].*less than or equal to 100"),
        ({"bins": "true"}, r"\[calibrate\.bins\]"),
        ({"bounds": "[20.0, 0.05]"}, r"\[calibrate\.temperature_bounds\].*low < high"),
        ({"bounds": "[2.0, 20.0]"}, r"\[calibrate\.temperature_bounds\].*must include 1\.0"),
        ({"bounds": "[0.0, 20.0]"}, r"\[calibrate\.temperature_bounds\]"),
        ({"bounds": "[0.5]"}, r"\[calibrate\.temperature_bounds\].*\[low, high\], two numbers"),
        (
            {"bounds": "[0.5, true]"},
            r"\[calibrate\.temperature_bounds\[1\]\]: a temperature bound must be a number",
        ),
        ({"bounds": "[.nan, 2.0]"}, r"\[calibrate\.temperature_bounds\].*finite"),
        ({"batch_size": 0}, r"\[calibrate\.batch_size\]"),
        ({"max_pixels": 10}, r"\[calibrate\.max_pixels\]"),
    ],
)
def test_bad_values_are_located(tmp_path: Path, overrides: dict[str, object], match: str) -> None:
    path = calibrate_params(tmp_path / "params.yaml", **overrides)
    with pytest.raises(ParamsError, match=match):
        load_params("calibrate", CalibrateParams, path)


def test_unknown_key_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    path = calibrate_params(tmp_path / "params.yaml")
    path.write_text(path.read_text().replace("  bins:", "  binz:"))
    with pytest.raises(ParamsError, match=r"\[calibrate\.binz\]: unknown key 'binz'.*'bins'"):
        load_params("calibrate", CalibrateParams, path)


def test_missing_section(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("model: {}\n")
    with pytest.raises(ParamsError, match="section 'calibrate' is missing"):
        load_params("calibrate", CalibrateParams, path)
