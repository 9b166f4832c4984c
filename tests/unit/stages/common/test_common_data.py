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


def _split(root: Path, count: int, shards: list[dict]) -> None:
    import json

    folder = root / "train"
    folder.mkdir(parents=True)
    for shard in shards:
        (folder / shard["file"]).write_bytes(b"records")
    (folder / "index.json").write_text(
        json.dumps({"split": "train", "count": count, "shards": shards})
    )


def test_index_count_must_match_its_shards(tmp_path: Path) -> None:
    from pedigree.errors import SourceError

    _split(tmp_path, 5, [{"file": "shard-00000.tfrecord", "count": 4}])
    with pytest.raises(SourceError, match="says 5 samples but its shards hold 4"):
        SplitReader(tmp_path, MODEL_SELECTION, "train").files("train")


def test_a_changed_shard_is_detected(tmp_path: Path) -> None:
    from pedigree.errors import SourceError

    _split(tmp_path, 4, [{"file": "shard-00000.tfrecord", "count": 4, "sha256": "0" * 64}])
    with pytest.raises(SourceError, match="does not match the sha256"):
        SplitReader(tmp_path, MODEL_SELECTION, "train").files("train")
