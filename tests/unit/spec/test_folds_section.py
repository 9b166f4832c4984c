"""The spec's `replicate.folds` section: field rules (pedigree.spec.replication) and the
cross-checks against spec.data and the stages (pedigree.spec.roles), on copies of pets.yaml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pedigree.errors import SpecError
from pedigree.replicate.upstream import fold_stages
from pedigree.spec.checks import load_spec
from pedigree.spec.model import PipelineSpec
from pedigree.spec.replication import REPLICATE_IMAGE_DIR, Folds, LabelAudit

PETS = Path(__file__).parents[3] / "pipelines" / "pets.yaml"
TEXT = PETS.read_text(encoding="utf-8")
INNER = "inner: {validation: 0.125, calibration: 0.125}"
HELD_OUT = "heldOut: test\n"
OUTS = "outs: [reports/label_issues.csv, reports/label_issues.json]"


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first `needle` in `text`."""
    assert needle in text, needle
    return text[: text.index(needle)].count("\n") + 1


def changed(old: str, new: str) -> str:
    assert TEXT.count(old) == 1, old
    return TEXT.replace(old, new)


def load_text(tmp_path: Path, text: str) -> PipelineSpec:
    path = tmp_path / "pets.yaml"
    path.write_text(text, encoding="utf-8")
    return load_spec(path)


def refused(tmp_path: Path, text: str, needle: str, where: str, message: str) -> None:
    """Loading `text` fails with one located problem: pets.yaml:<line of needle> [where]: ..."""
    with pytest.raises(SpecError) as caught:
        load_text(tmp_path, text)
    line = line_of(text, needle)
    pattern = rf"pets\.yaml:{line} \[{re.escape(where)}\]: {message}"
    assert re.search(pattern, str(caught.value)), f"{pattern!r} not in:\n{caught.value}"
    assert len(caught.value.problems) == 1, str(caught.value)


def test_pets_declares_its_folds() -> None:
    spec = load_spec(PETS)
    rep = spec.spec.replicate
    assert rep is not None and rep.folds is not None
    folds = rep.folds
    assert folds.assignment == "transform.split.groups"
    assert folds.held_out == "test"
    assert folds.inner == {"validation": 0.125, "calibration": 0.125}
    assert folds.seed == 0 and folds.predictions == "reports/predictions"
    assert folds.labels is not None
    assert folds.labels.summary == "reports/label_issues.json"
    assert folds.labels.summary in folds.labels.outs
    assert folds.labels.severity == "warn"
    assert folds.labels.cmd[:3] == ("python", "-m", "stages.labels")


def test_the_folds_rerun_every_stage_from_the_splits_stage_to_the_metrics_stage() -> None:
    spec = load_spec(PETS)
    assert fold_stages(spec) == ("transform", "tune", "train", "calibrate", "evaluate")


def test_a_copy_of_pets_loads(tmp_path: Path) -> None:
    assert load_text(tmp_path, TEXT).spec.replicate == load_spec(PETS).spec.replicate


def test_inner_shares_must_leave_something_to_train_on(tmp_path: Path) -> None:
    for shares in ("{validation: 0.5, calibration: 0.5}", "{validation: 0.75, calibration: 0.5}"):
        refused(
            tmp_path,
            changed(INNER, f"inner: {shares}"),
            "    folds:",
            "spec.replicate.folds",
            r"the inner shares add up to [\d.]+, leaving nothing for the train split",
        )


def test_held_out_must_be_a_split(tmp_path: Path) -> None:
    refused(
        tmp_path,
        changed(HELD_OUT, "heldOut: holdout\n"),
        "heldOut: holdout",
        "spec.replicate.folds.heldOut",
        r"'holdout' is not one of the declared splits \(hint: use one of spec\.data\.splits",
    )


def test_held_out_must_not_be_the_train_split(tmp_path: Path) -> None:
    refused(
        tmp_path,
        changed(HELD_OUT, "heldOut: train\n"),
        "heldOut: train",
        "spec.replicate.folds.heldOut",
        r"the held-out fold cannot go to the train split 'train'",
    )


def test_an_inner_key_must_be_a_split(tmp_path: Path) -> None:
    refused(
        tmp_path,
        changed(INNER, "inner: {validation: 0.125, calib: 0.125}"),
        "inner:",
        "spec.replicate.folds.inner.calib",
        r"'calib' is not one of the declared splits",
    )


@pytest.mark.parametrize(("split", "role"), [("test", "held-out"), ("train", "train")])
def test_an_inner_key_must_not_be_the_held_out_or_train_split(
    tmp_path: Path, split: str, role: str
) -> None:
    refused(
        tmp_path,
        changed(INNER, f"inner: {{validation: 0.125, {split}: 0.125}}"),
        "inner:",
        f"spec.replicate.folds.inner.{split}",
        rf"'{split}' is the {role} split; inner shares are for the other splits",
    )


def test_the_assignment_must_be_read_by_the_splits_stage(tmp_path: Path) -> None:
    refused(
        tmp_path,
        changed("assignment: transform.split.groups", "assignment: train.split.groups"),
        "assignment:",
        "spec.replicate.folds.assignment",
        r"the splits stage 'transform' does not read the params section 'train', so it would "
        r"never see the fold's assignment",
    )


@pytest.mark.parametrize("path", ["reports/other", "data/prepared/test"])
def test_predictions_must_be_an_output_of_a_replicated_stage(tmp_path: Path, path: str) -> None:
    refused(
        tmp_path,
        changed("predictions: reports/predictions", f"predictions: {path}"),
        "predictions:",
        "spec.replicate.folds.predictions",
        rf"'{re.escape(path)}' is no output of a replicated stage",
    )


def test_labels_need_predictions(tmp_path: Path) -> None:
    refused(
        tmp_path,
        changed("      predictions: reports/predictions\n", ""),
        "    folds:",
        "spec.replicate.folds",
        r"labels needs the folds' out-of-fold predictions, and predictions is not set",
    )


def test_the_labels_summary_must_be_one_of_its_outs(tmp_path: Path) -> None:
    refused(
        tmp_path,
        changed("summary: reports/label_issues.json", "summary: reports/other.json"),
        "      labels:",
        "spec.replicate.folds.labels",
        r"summary 'reports/other\.json' is not one of the label audit's outs",
    )


@pytest.mark.parametrize(
    ("out", "index"),
    [
        ("reports/evaluation.json", 0),  # a file evaluate writes
        ("reports/predictions/extra.csv", 0),  # inside a folder evaluate writes
    ],
)
def test_a_labels_out_must_not_be_a_stage_output(tmp_path: Path, out: str, index: int) -> None:
    refused(
        tmp_path,
        changed(OUTS, f"outs: [{out}, reports/label_issues.json]"),
        OUTS.replace("reports/label_issues.csv", out),
        f"spec.replicate.folds.labels.outs[{index}]",
        rf"'{re.escape(out)}' is also a stage's output: the label audit and the stage would "
        r"overwrite each other",
    )


def test_folds_need_spec_data(tmp_path: Path) -> None:
    start, end = TEXT.index("  data:\n"), TEXT.index("  # `pedigree replicate` re-runs")
    text = TEXT[:start] + TEXT[end:]
    refused(
        tmp_path,
        text,
        "    folds:",
        "spec.replicate.folds",
        r"folds need to know the splits and the group key, and spec\.data is not set",
    )


@pytest.mark.parametrize(
    ("old", "new", "where", "match"),
    [
        (
            "assignment: transform.split.groups",
            "assignment: transform",
            "spec.replicate.folds.assignment",
            r"'transform' is not a params key of the form section\.key",
        ),
        (
            INNER,
            "inner: {validation: 0, calibration: 0.125}",
            "spec.replicate.folds.inner.validation",
            r"greater than 0",
        ),
        (
            "severity: warn",
            "severity: loud",
            "spec.replicate.folds.labels.severity",
            r"'warn' or 'fail'",
        ),
        (
            HELD_OUT,
            "heldOut: test\n      extra: 1\n",
            "spec.replicate.folds.extra",
            r"unknown key 'extra'",
        ),
    ],
)
def test_bad_fields_are_refused_with_their_place(
    tmp_path: Path, old: str, new: str, where: str, match: str
) -> None:
    with pytest.raises(SpecError, match=rf"pets\.yaml:\d+ \[{re.escape(where)}\]: .*{match}"):
        load_text(tmp_path, changed(old, new))


def test_the_models_read_the_alias_and_check_their_fields() -> None:
    folds = Folds.model_validate({"assignment": "a.b.c", "heldOut": "test"})
    assert folds.held_out == "test" and folds.inner == {} and folds.labels is None
    audit = LabelAudit.model_validate({"cmd": ["x"], "outs": ["r/a.json"], "summary": "r/a.json"})
    assert audit.severity == "warn"
    with pytest.raises(ValueError, match=r"the inner shares add up to 1\.1"):
        Folds.model_validate(
            {"assignment": "a.b", "heldOut": "test", "inner": {"v": 0.6, "c": 0.5}}
        )


# --- folds.image: the replicate image's folder ------------------------------------------------


def test_the_replicate_image_folder_defaults_to_images_replicate(tmp_path: Path) -> None:
    folds = Folds.model_validate({"assignment": "a.b", "heldOut": "test"})
    assert folds.image == REPLICATE_IMAGE_DIR == "images/replicate"
    assert folds.image_dir == "images/replicate"
    assert folds.lock_file == "images/replicate/requirements.lock"
    rep = load_spec(PETS).spec.replicate
    assert rep is not None and rep.folds is not None and rep.folds.image == "images/replicate"
    spec = load_text(tmp_path, changed(HELD_OUT, "heldOut: test\n      image: envs/rep/\n"))
    rep = spec.spec.replicate
    assert rep is not None and rep.folds is not None
    assert rep.folds.image_dir == "envs/rep"  # normalised like a stage's image
    assert rep.folds.lock_file == "envs/rep/requirements.lock"


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("/opt/replicate", "'/opt/replicate' is absolute; paths are relative to the project root"),
        ("../replicate", "'../replicate' escapes the project root"),
        ("images/${x}", r"path 'images/\$\{x\}' contains '\$\{'"),
        ("''", "path is empty"),
    ],
)
def test_the_replicate_image_folder_is_checked_like_a_stages(
    tmp_path: Path, image: str, message: str
) -> None:
    text = changed(HELD_OUT, f"heldOut: test\n      image: {image}\n")
    refused(tmp_path, text, f"image: {image}", "spec.replicate.folds.image", message)
    with pytest.raises(ValueError, match=r"escapes the project root"):
        Folds.model_validate({"assignment": "a.b", "heldOut": "test", "image": "../x"})
