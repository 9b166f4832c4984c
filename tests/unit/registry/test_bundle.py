"""pedigree.registry.bundle: a registered version's serve bundle, from its record and lineage."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pedigree.errors import ServeError
from pedigree.registry.bundle import bundle_for_version, remote_object_uri, with_remote_uris
from tests.unit.registry.serving_data import CALIBRATION, LINEAGE, MODEL, SERVE, SHA, STATS, VERSION

FOLDER = {"path": "data/prepared/train", "md5": "1" * 32 + ".dir"}
EVALUATE = {"deps": [STATS], "params": {"params.yaml": {"model": {"input_size": 64}}}}
TWO_STAGES = replace(
    VERSION,
    lineage={
        "train": {**LINEAGE["train"], "deps": [FOLDER, *LINEAGE["train"]["deps"]]},
        "evaluate": EVALUATE,
    },
)


def test_the_bundle_holds_the_registered_files_and_the_lineage_ones() -> None:
    bundle = bundle_for_version("pets", SERVE, TWO_STAGES)
    assert (bundle.pipeline, bundle.version, bundle.predictor) == ("pets", 3, "stages.serve")
    assert [(f.role, f.path, f.md5, f.sha256) for f in bundle.files] == [
        ("model", MODEL["path"], MODEL["md5"], SHA),
        ("calibration", CALIBRATION["path"], CALIBRATION["md5"], CALIBRATION["sha256"]),
        ("stats", STATS["path"], STATS["md5"], None),
    ]
    assert bundle.params == {"model": {"input_size": 64}}
    assert bundle.model_sha256 == SHA


def test_remote_uris_are_dvc_content_addresses() -> None:
    assert remote_object_uri("s3://pedigree/dvc/", "ab" + "0" * 30) == (
        "s3://pedigree/dvc/files/md5/ab/" + "0" * 30
    )
    bundle = with_remote_uris(bundle_for_version("pets", SERVE, VERSION), "s3://p/dvc")
    assert bundle.file("stats").uri == "s3://p/dvc/files/md5/f3/" + "0" * 30


def test_a_version_without_content_hashes_cannot_be_served() -> None:
    version = replace(VERSION, files={"model": {"path": "models/model.keras"}})
    with pytest.raises(ServeError, match=r"v3's model file has no DVC md5 and sha256"):
        bundle_for_version("pets", SERVE, version)
    # a missing calibration is fine: not every pipeline calibrates
    bundle = bundle_for_version("pets", SERVE, replace(VERSION, files={"model": MODEL}))
    assert [f.role for f in bundle.files] == ["model", "stats"]


def test_files_and_params_the_lineage_lacks_are_named() -> None:
    other = SERVE.model_copy(update={"files": {"stats": "data/other.json"}})
    with pytest.raises(ServeError, match=r"v3's lineage records no file data/other.json"):
        bundle_for_version("pets", other, TWO_STAGES)
    folder = SERVE.model_copy(update={"files": {"train": FOLDER["path"]}})  # no plain md5
    with pytest.raises(ServeError, match=r"records no file data/prepared/train"):
        bundle_for_version("pets", folder, TWO_STAGES)
    with pytest.raises(ServeError, match=r"no params section 'tune'"):
        bundle_for_version("pets", SERVE.model_copy(update={"params": ("tune",)}), TWO_STAGES)


def test_stages_that_recorded_different_params_make_an_inconsistent_lineage() -> None:
    evaluate = {"params": {"params.yaml": {"model": {"input_size": 32}}}}
    version = replace(TWO_STAGES, lineage={**TWO_STAGES.lineage, "evaluate": evaluate})
    with pytest.raises(ServeError, match=r"'evaluate' and 'train' recorded different 'model'"):
        bundle_for_version("pets", SERVE, version)
