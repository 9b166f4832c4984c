"""`transform` params: strict validation, errors located by file, line and key path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pedigree.errors import ParamsError
from pedigree.stagekit import load_params
from stages.transform.params import TransformParams

ROOT = Path(__file__).resolve().parents[4]

GOOD = """\
transform:
  image_size: [128, 96]
  shard_size: 256
  split:
    buckets: 10
    train: [0, 1, 2, 3, 4, 5, 6]
    validation: [7]
    calibration: [8]
    test: [9]
"""


def load(tmp_path: Path, text: str) -> TransformParams:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return load_params("transform", TransformParams, path)


def test_project_params_yaml_is_valid() -> None:
    params = load_params("transform", TransformParams, ROOT / "params.yaml")
    assert params.split.table()[0] == "train"


def test_good_params_load(tmp_path: Path) -> None:
    params = load(tmp_path, GOOD)
    assert params.image_size == (128, 96)
    assert (params.height, params.width) == (128, 96)
    assert params.split.table() == ("train",) * 7 + ("validation", "calibration", "test")


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            "    test: [9]",
            "    test: [8]",
            r"params\.yaml:4 \[transform\.split\]: bucket\(s\) 9 not assigned to any split.*"
            r"bucket 8 is assigned to calibration and test",
        ),
        (
            "    validation: [7]",
            "    validation: [7, 11]",
            r"params\.yaml:7 \[transform\.split\.validation\]: bucket\(s\) 11 out of range",
        ),
        (
            "    test: [9]",
            "    tests: [9]",
            r"params\.yaml:9 \[transform\.split\.tests\]: unknown key 'tests' "
            r"\(hint: did you mean 'test'\?\)",
        ),
        (
            "  image_size: [128, 96]",
            "  image_size: [128, 4]",
            r"params\.yaml:2 \[transform\.image_size\[1\]\]: an image side must be between 8 "
            r"and 4096 pixels \(got 4\)",
        ),
        (
            "  image_size: [128, 96]",
            "  image_size: [128]",
            r"params\.yaml:2 \[transform\.image_size\[1\]\]: required key",
        ),
        (
            "  shard_size: 256",
            "  shard_size: 0",
            r"params\.yaml:3 \[transform\.shard_size\]: shard_size \(samples per shard\) must be",
        ),
        (
            "  shard_size: 256",
            "  shard_size: true",
            r"params\.yaml:3 \[transform\.shard_size\]: Input should be a valid integer",
        ),
        (
            "    buckets: 10",
            "    buckets: '10'",
            r"params\.yaml:5 \[transform\.split\.buckets\]: Input should be a valid integer",
        ),
        (
            "  shard_size: 256\n",
            "  shard_size: 256\n  colour: true\n",
            r"params\.yaml:4 \[transform\.colour\]: unknown key 'colour'",
        ),
    ],
)
def test_bad_params_are_located(tmp_path: Path, old: str, new: str, match: str) -> None:
    assert old in GOOD
    with pytest.raises(ParamsError, match=match):
        load(tmp_path, GOOD.replace(old, new))


def test_missing_section_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match=r"section 'transform' is missing"):
        load(tmp_path, "ingest:\n  source: synthetic\n")


def test_params_are_frozen(tmp_path: Path) -> None:
    params = load(tmp_path, GOOD)
    with pytest.raises(ValueError, match="frozen"):
        params.shard_size = 3  # type: ignore[misc]


def test_split_groups_is_unset_by_default(tmp_path: Path) -> None:
    assert load(tmp_path, GOOD).split.groups is None
    text = GOOD.replace("    test: [9]\n", "    test: [9]\n    groups: null\n")
    assert load(tmp_path, text).split.groups is None


@pytest.mark.parametrize("value", ["folds/0123456789abcdef.json", "map.json", "a/b..c/d.json"])
def test_split_groups_takes_a_relative_path(tmp_path: Path, value: str) -> None:
    text = GOOD.replace("    test: [9]\n", f"    test: [9]\n    groups: {value}\n")
    assert load(tmp_path, text).split.groups == value


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("/abs", "/abs"),
        ("/etc/passwd", "/etc/passwd"),
        ("../x", "../x"),
        ("folds/../../x.json", "folds/../../x.json"),
        ("'..\\x'", "..\\x"),  # a Windows-style parent
        ("''", ""),
        ("'  '", "  "),
    ],
)
def test_split_groups_refuses_paths_outside_the_project(
    tmp_path: Path, written: str, value: str
) -> None:
    text = GOOD.replace("    test: [9]\n", f"    test: [9]\n    groups: {written}\n")
    with pytest.raises(
        ParamsError,
        match=r"params\.yaml:10 \[transform\.split\.groups\]: groups must be a relative path "
        rf"inside the project \(got {re.escape(repr(value))}\)",
    ) as caught:
        load(tmp_path, text)
    assert "pedigree replicate --folds" in str(caught.value)
