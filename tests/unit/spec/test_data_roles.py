"""The spec's `data` and `replicate` sections: defaults, field rules and cross-references."""

from __future__ import annotations

from pathlib import Path

import pytest

from pedigree.errors import SpecError
from pedigree.spec.checks import load_spec
from pedigree.spec.model import PipelineSpec, SplitFiles

BASE = """\
apiVersion: pedigree/v1
kind: Pipeline
metadata:
  name: tabular
spec:
  stages:
    - name: prep
      cmd: [python, -m, stages.prep]
      outs: [data/split]
    - name: fit
      cmd: [python, -m, stages.fit]
      deps: [data/split/train]
      params: [fit, seeding]
      outs: [out/model]
    - name: score
      cmd: [python, -m, stages.score]
      deps: [data/split/test, out/model]
      params: [seeding]
      metrics: [out/metrics.json]
"""
DATA = """\
  data:
    splits:
      stage: prep
      path: data/split
      names: [train, test]
      groupKey: customer
    heldOut:
      test: [score]
    modelSelection:
      fit: [train]
"""
REPLICATE = """\
  replicate:
    stages: [fit, score]
    seed: seeding.seed
"""


def _load(tmp_path: Path, text: str) -> PipelineSpec:
    path = tmp_path / "tabular.yaml"
    path.write_text(text, encoding="utf-8")
    return load_spec(path)


def _refused(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        _load(tmp_path, text)


def test_both_sections_are_optional(tmp_path: Path) -> None:
    spec = _load(tmp_path, BASE)
    assert spec.spec.data is None
    assert spec.spec.replicate is None


def test_declared_sections_load_with_defaults(tmp_path: Path) -> None:
    spec = _load(tmp_path, BASE + DATA + REPLICATE)
    data = spec.spec.data
    assert data is not None
    assert (data.splits.stage, data.splits.path, data.splits.names) == (
        "prep",
        "data/split",
        ("train", "test"),
    )
    assert data.splits.train == "train"  # the default statistics split
    assert data.splits.group_key == "customer"
    assert data.splits.files == SplitFiles()
    assert data.splits.files.provenance == "provenance.jsonl"
    assert data.held_out == {"test": ("score",)}
    assert data.model_selection == {"fit": ("train",)}
    rep = spec.spec.replicate
    assert rep is not None
    assert (rep.stages, rep.seed, rep.seed_section, rep.seed_key) == (
        ("fit", "score"),
        "seeding.seed",
        "seeding",
        "seed",
    )


def test_held_out_and_model_selection_default_to_no_rules(tmp_path: Path) -> None:
    text = BASE + DATA.split("    heldOut:")[0]
    data = _load(tmp_path, text).spec.data
    assert data is not None
    assert data.held_out == {}
    assert data.model_selection == {}


def test_files_can_be_renamed(tmp_path: Path) -> None:
    text = BASE + DATA.replace(
        "groupKey: customer", "groupKey: customer\n      files: {stats: norm.json}"
    )
    data = _load(tmp_path, text).spec.data
    assert data is not None
    assert data.splits.files.stats == "norm.json"
    assert data.splits.files.splits == "splits.json"


def test_unknown_keys_are_refused_with_their_place(tmp_path: Path) -> None:
    _refused(
        tmp_path,
        BASE + DATA.replace("groupKey:", "groupkey:"),
        r"tabular.yaml:\d+ \[spec.data.splits.groupkey\]: unknown key 'groupkey'",
    )
    _refused(
        tmp_path,
        BASE + REPLICATE.replace("seed: seeding.seed", "seed: seeding.seed\n    runs: 3"),
        r"\[spec.replicate.runs\]: unknown key 'runs'",
    )


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("      groupKey: customer\n", "", r"\[spec.data.splits.groupKey\]: .*missing"),
        ("names: [train, test]", "names: [train]", r"\[spec.data.splits.names\]"),
        ("path: data/split", "path: /data/split", r"\[spec.data.splits.path\].*absolute"),
        ("path: data/split", "path: ../split", r"\[spec.data.splits.path\].*escapes"),
        ("names: [train, test]", "names: [train, a/b]", r"'a/b' is not a plain file name"),
        ("stage: prep", "stage: Prep", r"\[spec.data.splits.stage\].*not a valid stage name"),
    ],
)
def test_bad_data_fields_are_refused(tmp_path: Path, old: str, new: str, match: str) -> None:
    assert old in DATA
    _refused(tmp_path, BASE + DATA.replace(old, new), match)


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("seed: seeding.seed", "seed: seeding", r"'seeding' is not a params key of the form"),
        ("seed: seeding.seed", "seed: a.b.c", r"'a.b.c' is not a params key"),
        ("stages: [fit, score]", "stages: []", r"\[spec.replicate.stages\]"),
        ("    seed: seeding.seed\n", "", r"\[spec.replicate.seed\]: .*missing"),
    ],
)
def test_bad_replicate_fields_are_refused(tmp_path: Path, old: str, new: str, match: str) -> None:
    assert old in REPLICATE
    _refused(tmp_path, BASE + REPLICATE.replace(old, new), match)


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            "stage: prep",
            "stage: prepp",
            r"\[spec.data.splits.stage\]: no stage named 'prepp' in spec.stages "
            r"\(hint: did you mean 'prep'\?\)",
        ),
        (
            "path: data/split",
            "path: data/other",
            r"\[spec.data.splits.path\]: 'data/other' is not an output of stage 'prep' "
            r"\(its outs: data/split\)",
        ),
        (
            "      groupKey",
            "      train: learn\n      groupKey",
            r"\[spec.data.splits.train\]: 'learn' is not one of the declared splits",
        ),
        ("names: [train, test]", "names: [train, test, train]", r"split 'train' is named twice"),
        (
            "test: [score]",
            "test: [scorer]",
            r"\[spec.data.heldOut.test\[0\]\]: no stage named 'scorer'",
        ),
        ("test: [score]", "tset: [score]", r"\[spec.data.heldOut.tset\]: 'tset' is not one of"),
        ("fit: [train]", "fitt: [train]", r"\[spec.data.modelSelection.fitt\]: no stage named"),
        ("fit: [train]", "fit: [valid]", r"\[spec.data.modelSelection.fit\[0\]\]: 'valid' is not"),
    ],
)
def test_data_cross_references_are_located(tmp_path: Path, old: str, new: str, match: str) -> None:
    assert old in DATA
    _refused(tmp_path, BASE + DATA.replace(old, new), match)


def test_a_split_folder_inside_the_output_is_accepted(tmp_path: Path) -> None:
    text = BASE.replace("outs: [data/split]", "outs: [data]") + DATA
    data = _load(tmp_path, text).spec.data
    assert data is not None
    assert data.splits.path == "data/split"


def test_replicate_cross_references_are_located(tmp_path: Path) -> None:
    _refused(
        tmp_path,
        BASE + REPLICATE.replace("[fit, score]", "[fit, scorer]"),
        r"tabular.yaml:\d+ \[spec.replicate.stages\[1\]\]: no stage named 'scorer'",
    )
    _refused(
        tmp_path,
        BASE + REPLICATE.replace("seeding.seed", "determinism.seed"),
        r"\[spec.replicate.seed\]: no replicated stage reads the params section 'determinism'",
    )


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = BASE + DATA.replace("stage: prep", "stage: nope").replace("[score]", "[nobody]")
    with pytest.raises(SpecError) as info:
        _load(tmp_path, text)
    rendered = [p.render() for p in info.value.problems]
    assert len(rendered) == 2
    assert any("'nope'" in r for r in rendered)
    assert any("'nobody'" in r for r in rendered)


def test_pets_declares_what_audit_and_replicate_need() -> None:
    spec = load_spec(Path(__file__).parents[3] / "pipelines" / "pets.yaml")
    assert spec.spec.data is not None
    assert spec.spec.data.splits.stage == "transform"
    assert spec.spec.data.splits.path == "data/prepared"
    assert spec.spec.replicate is not None
    assert spec.spec.replicate.stages == ("train", "calibrate", "evaluate")
    assert spec.spec.replicate.seed == "determinism.seed"
