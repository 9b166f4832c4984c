"""The `release` section of params.yaml: strict, located errors; metric names checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from pedigree.errors import ParamsError
from pedigree.stagekit import load_params
from stages.release.params import ReleaseParams, check_metric_names, metric_value, numeric_paths

GOOD = """\
release:
  registry: registry/pets
  primary_metric: mean_iou
  higher_is_better: true
  margin: 0.005
  thresholds:
    mean_iou: {min: 0.6}
    ece.calibrated: {max: 0.05}
  serving:
    name: pets-segmentation
    namespace: pedigree
    image: pedigree/serve:0.1.0
    remote: s3://pedigree/dvc
    replicas: 1
    port: 8080
"""
METRICS = {"mean_iou": 0.8, "ece": {"original": 0.1, "calibrated": 0.02}, "split": "test"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_params_load(tmp_path: Path) -> None:
    params = load_params("release", ReleaseParams, write(tmp_path, GOOD))
    assert params.primary_metric == "mean_iou"
    assert params.thresholds["ece.calibrated"].max == 0.05


def test_the_project_params_load() -> None:
    from tests.conftest import REPO_ROOT

    params = load_params("release", ReleaseParams, REPO_ROOT / "params.yaml")
    assert params.registry == "registry/pets"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("  margin: 0.005", "  marign: 0.005", r"params.yaml:5 \[release.marign\]: unknown key"),
        ("  margin: 0.005", "  margin: -1", r"params.yaml:5 \[release.margin\]"),
        ("mean_iou: {min: 0.6}", "mean_iou: {}", r"params.yaml:7 \[release.thresholds.mean_iou\]"),
        ("{max: 0.05}", "{min: 0.2, max: 0.05}", r"min 0.2 is above max 0.05"),
        ("    replicas: 1", "    replicas: 0", r"\[release.serving.replicas\]"),
    ],
)
def test_bad_params_are_located(tmp_path: Path, old: str, new: str, expected: str) -> None:
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ParamsError, match=expected):
        load_params("release", ReleaseParams, path)


def test_unknown_metric_names_are_a_params_error_with_line(tmp_path: Path) -> None:
    text = GOOD.replace("primary_metric: mean_iou", "primary_metric: mean_iuo")
    text = text.replace("ece.calibrated: {max", "ece.calibrate: {max")
    path = write(tmp_path, text)
    params = load_params("release", ReleaseParams, path)
    with pytest.raises(ParamsError) as info:
        check_metric_names(params, METRICS, path)
    rendered = [p.render() for p in info.value.problems]
    assert rendered[0].startswith(
        "params.yaml:3 [release.primary_metric]: 'mean_iuo' is not a metric in the evaluation's metrics"
    )
    assert "known metrics: ece.calibrated, ece.original, mean_iou" in rendered[0]
    assert rendered[1].startswith("params.yaml:8 [release.thresholds.ece.calibrate]")


def test_metric_paths() -> None:
    assert metric_value(METRICS, "ece.calibrated") == 0.02
    assert metric_value(METRICS, "split") is None
    assert metric_value(METRICS, "ece") is None
    assert numeric_paths(METRICS) == ["ece.calibrated", "ece.original", "mean_iou"]
