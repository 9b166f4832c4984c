"""Split access control: a stage cannot open a split it must never see."""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.common.data import CALIBRATION, MODEL_SELECTION, SplitAccessError, SplitReader


@pytest.mark.parametrize("split", ["calibration", "test"])
def test_model_selection_may_not_open_held_out_splits(tmp_path: Path, split: str) -> None:
    reader = SplitReader(tmp_path, MODEL_SELECTION, "tune")
    with pytest.raises(SplitAccessError, match=f"stage 'tune' may not read the {split} split"):
        reader.files(split)


def test_calibrate_may_not_open_test(tmp_path: Path) -> None:
    with pytest.raises(SplitAccessError, match="may not read the test split"):
        SplitReader(tmp_path, CALIBRATION, "calibrate").files("test")


def test_missing_index_is_a_clear_error(tmp_path: Path) -> None:
    from pedigree.errors import SourceError

    with pytest.raises(SourceError, match="index.json is missing"):
        SplitReader(tmp_path, MODEL_SELECTION, "train").files("train")
