"""The spec's `serve` section: what the predictor is, which files and params it reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from pedigree.errors import SpecError
from pedigree.spec.checks import load_spec
from pedigree.spec.model import PipelineSpec
from tests.unit.spec.test_data_roles import BASE

SERVE = """\
  serve:
    image: images/serve
    predictor: stages.serve
    code: [stages/serve]
    files: {split: data/split/train}
    params: [fit]
"""


def _load(tmp_path: Path, text: str) -> PipelineSpec:
    path = tmp_path / "tabular.yaml"
    path.write_text(text, encoding="utf-8")
    return load_spec(path)


def test_the_section_is_optional(tmp_path: Path) -> None:
    assert _load(tmp_path, BASE).spec.serve is None


def test_a_declared_section_loads(tmp_path: Path) -> None:
    serve = _load(tmp_path, BASE + SERVE).spec.serve
    assert serve is not None
    assert serve.predictor == "stages.serve"
    assert serve.files == {"split": "data/split/train"}
    assert serve.lock_file == "images/serve/requirements.lock"


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("predictor: stages.serve", "predictor: stages/serve", r"not a Python module name"),
        ("predictor: stages.serve", "predictor: 1stages", r"not a Python module name"),
        ("code: [stages/serve]", "code: []", r"\[spec.serve.code\]"),
        ("{split: data/split/train}", "{model: out/model}", r"'model' is one of the registry's"),
        ("{split: data/split/train}", "{Stats: out/model}", r"'Stats' is not a file role"),
        ("{split: data/split/train}", "{split: ../x}", r"\[spec.serve.files.split\]"),
        ("    params: [fit]\n", "    params: [fit]\n    port: 1\n", r"\[spec.serve.port\]"),
        ("    image: images/serve\n", "", r"\[spec.serve.image\]: .*missing"),
    ],
)
def test_bad_fields_are_refused_with_their_place(
    tmp_path: Path, old: str, new: str, match: str
) -> None:
    assert old in SERVE
    with pytest.raises(SpecError, match=match):
        _load(tmp_path, BASE + SERVE.replace(old, new))


def test_files_and_params_must_be_in_some_lineage(tmp_path: Path) -> None:
    text = BASE + SERVE.replace("data/split/train", "data/elsewhere.json").replace(
        "params: [fit]", "params: [nobody]"
    )
    with pytest.raises(SpecError) as caught:
        _load(tmp_path, text)
    message = str(caught.value)
    assert "[spec.serve.files.split]: 'data/elsewhere.json' is no stage's dependency" in message
    assert "[spec.serve.params[0]]: no stage reads the params section 'nobody'" in message


def test_pets_serves_its_model_with_transform_statistics() -> None:
    spec = load_spec(Path(__file__).parents[3] / "pipelines" / "pets.yaml")
    assert spec.spec.serve is not None
    assert spec.spec.serve.files == {"stats": "data/prepared/stats.json"}
    assert spec.spec.serve.params == ("model", "determinism")
