"""The upstream walk: producers, parts of output folders, link states, sources and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pedigree.lineage.record import Artifact
from pedigree.lineage.store import LineageError, current_path
from pedigree.lineage.trace import Source, inside, part_hash, producer_of, source_of, trace
from tests.unit.lineage.conftest import (
    LABELS,
    PREPARED,
    RAW,
    STATS,
    TRAIN_PART,
    TinyProject,
    record,
    records,
    write_project,
)


def test_model_traces_back_to_the_synthetic_source(tiny: TinyProject) -> None:
    lineage = trace(tiny.root, tiny.lock, "models/model.keras")

    assert [s.stage for s in lineage.steps] == ["train", "transform", "ingest"]
    assert lineage.output == "models/model.keras" and lineage.stage == "train"
    train = lineage.step("train")
    assert [(lk.path, lk.md5, lk.producer, lk.within, lk.state) for lk in train.links] == [
        ("data/prepared/train", TRAIN_PART, "transform", "data/prepared", "current"),
        ("data/prepared/stats.json", STATS, "transform", "data/prepared", "current"),
        ("data/labels.csv", LABELS, None, None, "raw"),
    ]
    transform = lineage.step("transform")
    assert [(lk.path, lk.producer, lk.state) for lk in transform.links] == [
        ("data/raw", "ingest", "current")
    ]
    assert lineage.sources == (
        Source("input", "data/labels.csv", None, None, LABELS),
        Source("synthetic", "synthetic", "ingest", None, None, (("count", 48), ("seed", 42))),
    )
    assert [s.stage for s in lineage.runs_upstream_first()] == ["ingest", "transform", "train"]


def test_a_path_inside_an_output_folder_belongs_to_its_stage(tiny: TinyProject) -> None:
    lineage = trace(tiny.root, tiny.lock, "data/prepared/train")

    assert lineage.stage == "transform"
    assert (lineage.target, lineage.output) == ("data/prepared/train", "data/prepared")
    assert [s.stage for s in lineage.steps] == ["transform", "ingest"]


def test_a_missing_path_inside_an_output_folder_is_refused(tiny: TinyProject) -> None:
    with pytest.raises(
        LineageError,
        match=r"'data/prepared/nope' does not exist inside 'data/prepared' \(output of stage 'transform'\)",
    ):
        trace(tiny.root, tiny.lock, "data/prepared/nope")


def test_a_path_no_stage_outputs_lists_the_outputs(tiny: TinyProject) -> None:
    with pytest.raises(
        LineageError,
        match=r"'nope/x' is not an output of any stage .*outputs: data/prepared, data/raw, models/model.keras",
    ) as info:
        trace(tiny.root, tiny.lock, "nope/x")
    assert info.value.exit_code == 2


def test_a_folder_holding_outputs_names_them(tiny: TinyProject) -> None:
    with pytest.raises(
        LineageError,
        match=r"^'data' is a folder holding several outputs, not one output: data/prepared, data/raw\n",
    ) as info:
        trace(tiny.root, tiny.lock, "data")
    assert info.value.hint == "ask about one of them, e.g. `pedigree lineage data/prepared`"


def test_a_stage_without_a_record_says_how_to_fix_it(tiny: TinyProject) -> None:
    current_path(tiny.root, "transform").unlink()

    with pytest.raises(
        LineageError,
        match=r"stage 'transform' has no lineage record \(lineage/transform.json is missing\)",
    ) as info:
        trace(tiny.root, tiny.lock, "models/model.keras")
    assert "pedigree run --stage transform --force" in str(info.value.hint)


def test_a_record_that_does_not_match_dvc_lock_is_refused(tmp_path: Path) -> None:
    recs = records()
    project = write_project(tmp_path / "p", recs)
    project.lock["ingest"]["outs"][0]["md5"] = "0" * 32 + ".dir"

    with pytest.raises(
        LineageError,
        match=r"lineage/ingest.json does not describe the current outputs of stage 'ingest': data/raw \(dvc.lock 000000000000, record aaaaaaaaaaaa\)",
    ) as info:
        trace(project.root, project.lock, "data/raw")
    assert "pedigree run --stage ingest --force" in str(info.value.hint)


def test_a_link_to_an_output_that_changed_since_is_marked_changed(tmp_path: Path) -> None:
    recs = records()
    # ingest re-ran and made a new data/raw; transform still holds what it made from the old one.
    recs["ingest"] = recs["ingest"].model_copy(
        update={"outputs": [Artifact(path="data/raw", md5="1" * 32 + ".dir", size=1, nfiles=1)]}
    )
    project = write_project(tmp_path / "p", recs)

    lineage = trace(project.root, project.lock, "data/prepared")

    assert [(lk.path, lk.md5, lk.state) for lk in lineage.step("transform").links] == [
        ("data/raw", RAW, "changed")
    ]


def test_a_part_of_a_folder_is_unknown_without_the_cache_listing(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", records(), cache=False)

    lineage = trace(project.root, project.lock, "models/model.keras")

    states = {lk.path: lk.state for lk in lineage.step("train").links}
    assert states == {
        "data/prepared/train": "unknown",
        "data/prepared/stats.json": "unknown",
        "data/labels.csv": "raw",
    }


def test_part_hash_reads_files_and_subfolders_from_the_listing(tiny: TinyProject) -> None:
    assert part_hash(tiny.root, PREPARED, "stats.json") == STATS
    assert part_hash(tiny.root, PREPARED, "train") == TRAIN_PART
    assert part_hash(tiny.root, PREPARED, "validation") is None
    assert part_hash(tiny.root, "0" * 32 + ".dir", "train") is None  # not in the cache
    assert part_hash(tiny.root, STATS, "x") is None  # a file has no parts


def test_inside_and_producer_of() -> None:
    lock = {"transform": {"outs": [{"path": "data/prepared", "md5": "x"}]}}
    assert inside("data/prepared/train", "data/prepared")
    assert inside("data/prepared", "data/prepared")
    assert not inside("data/prepared2", "data/prepared")
    assert producer_of("data/prepared/a/b", lock) == ("transform", "data/prepared")
    assert producer_of("data/raw", lock) is None


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            {"source": "https://example.org/pets.tar.gz", "sha256": "ab" * 32},
            Source("url", "https://example.org/pets.tar.gz", "ingest", "ab" * 32),
        ),
        (
            {"source": "/data/pets.tar.gz", "sha256": None},
            Source("tarball", "/data/pets.tar.gz", "ingest", None),
        ),
        ({"source": "data/pets"}, Source("folder", "data/pets", "ingest", None)),
    ],
)
def test_source_of_describes_urls_tarballs_and_folders(section: dict, expected: Source) -> None:
    rec = record("ingest", [], [], {"ingest": section}, started="2024-05-01T10:00:00.000Z")
    assert source_of(rec) == expected


def test_source_of_a_stage_without_a_source_param_is_its_params() -> None:
    rec = record("make", [], [], {"make": {"n": 3}}, started="2024-05-01T10:00:00.000Z")
    assert source_of(rec) == Source(
        "params", "params of stage 'make'", "make", None, None, (("make", {"n": 3}),)
    )
