"""The project's own pipeline: held-out splits reach only the stages allowed to see them."""

from __future__ import annotations

from pedigree.api import main as api
from pedigree.graph import overlaps
from tests.conftest import REPO_ROOT

HELD_OUT = {"calibration": "data/prepared/calibration", "test": "data/prepared/test"}
MAY_READ = {"calibration": {"calibrate", "evaluate"}, "test": {"evaluate"}}


def test_held_out_splits_reach_only_their_stages() -> None:
    spec = api.load(REPO_ROOT).spec
    for stage in spec.stages:
        for split, path in HELD_OUT.items():
            reads = [dep for dep in stage.deps if overlaps(dep, path)]
            if stage.name not in MAY_READ[split]:
                assert not reads, (
                    f"stage '{stage.name}' declares {reads}, which hold the {split} split"
                )


def test_model_selection_reads_only_train_and_validation() -> None:
    spec = api.load(REPO_ROOT).spec
    for name in ("tune", "train"):
        prepared = [d for d in spec.stage(name).deps if d.startswith("data/prepared")]
        assert sorted(prepared) == [
            "data/prepared/stats.json",
            "data/prepared/train",
            "data/prepared/validation",
        ]


def test_evaluate_reads_only_the_test_split_and_release_reads_no_data() -> None:
    spec = api.load(REPO_ROOT).spec
    prepared = [d for d in spec.stage("evaluate").deps if d.startswith("data/")]
    assert sorted(prepared) == ["data/prepared/stats.json", "data/prepared/test"]
    assert not [d for d in spec.stage("release").deps if d.startswith("data/")]
    # release decides against the registry's log: a dependency by content, so a changed
    # registry re-runs it; no state outside git and DVC
    assert "registry/pets" in spec.stage("release").deps and "registry/pets" in spec.spec.inputs
    assert not spec.stage("release").stateful and not spec.stage("release").state
