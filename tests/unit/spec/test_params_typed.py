"""Bad params are refused before anything runs, by each stage's own models (stages/NAME/params.py
`PARAMS`), located by line in params.yaml."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from pedigree.api import main as api
from pedigree.cli.main import main
from pedigree.errors import ParamsError, SpecError
from pedigree.executors import dvc as dvc_executor
from pedigree.spec import params_check
from pedigree.spec.checks import load_spec
from pedigree.spec.params_check import CACHE, StageParams, check_params
from tests.conftest import REPO_ROOT, VALID_SPEC, make_project, pets_copy

SPEC = "pipelines/pets.yaml"
INGEST_PARAMS = """\
from pydantic import BaseModel, ConfigDict, Field

from stages.ingest.rules import MAX_SEED


class IngestParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = Field(ge=0, le=MAX_SEED)


PARAMS = {"ingest": IngestParams}
"""
TRANSFORM_PARAMS = """\
from pydantic import BaseModel, ConfigDict, Field


class SplitParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    train: float = Field(gt=0, lt=1)


PARAMS = {"transform.split": SplitParams}
"""
PARAMS_YAML = """\
ingest:
  seed: 1
transform:
  size: 8
  split:
    train: 0.8
"""


@pytest.fixture
def typed(tmp_path: Path) -> Path:
    """A project whose two stages have params modules, and valid params."""
    root = make_project(tmp_path / "proj")
    (root / "stages" / "__init__.py").write_text("")
    (root / "stages" / "ingest" / "params.py").write_text(INGEST_PARAMS)
    (root / "stages" / "ingest" / "rules.py").write_text("MAX_SEED = 100\n")
    (root / "stages" / "transform" / "params.py").write_text(TRANSFORM_PARAMS)
    (root / "params.yaml").write_text(PARAMS_YAML)
    return root


def _load(root: Path) -> None:
    load_spec(root / SPEC, root, display=SPEC)


def _set(root: Path, old: str, new: str) -> None:
    path = root / "params.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_valid_params_pass(typed: Path) -> None:
    _load(typed)


def test_a_bad_value_is_located_in_params_yaml(typed: Path) -> None:
    _set(typed, "seed: 1", "seed: -1")
    with pytest.raises(
        ParamsError,
        match=r"params.yaml:2 \[ingest.seed\]: Input should be greater than or equal to 0 "
        r"\(got -1\) \(hint: fix the value in params.yaml; stages/ingest/params.py "
        r"\(IngestParams\) says what is allowed\)",
    ):
        _load(typed)


def test_a_nested_section_a_wrong_type_and_an_unknown_key_are_all_reported(typed: Path) -> None:
    _set(typed, "train: 0.8", "train: big\n    tset: 1")
    _set(typed, "seed: 1", "sede: 1")
    with pytest.raises(ParamsError) as info:
        _load(typed)
    rendered = [p.render() for p in info.value.problems]
    assert any(r.startswith("params.yaml:2 [ingest.sede]: unknown key 'sede'") for r in rendered)
    assert any(
        r.startswith("params.yaml:6 [transform.split.train]: Input should be a valid number")
        for r in rendered
    )
    assert any(r.startswith("params.yaml:7 [transform.split.tset]: unknown key") for r in rendered)


def test_spec_and_params_problems_together_are_a_spec_error(typed: Path) -> None:
    _set(typed, "seed: 1", "seed: -1")
    (typed / SPEC).write_text(VALID_SPEC.replace("deps: [data/raw]", "deps: [data/rawx]"))
    with pytest.raises(SpecError, match=r"reads 'data/rawx', which no stage writes") as info:
        _load(typed)
    assert any(p.path == "ingest.seed" for p in info.value.problems)


def test_a_declared_missing_section_is_reported_once_in_the_spec(typed: Path) -> None:
    (typed / "params.yaml").write_text("transform:\n  split:\n    train: 0.5\n")
    with pytest.raises(SpecError) as info:
        _load(typed)
    assert [p.render() for p in info.value.problems] == [
        "pipelines/pets.yaml:9 [spec.stages[0].params[0]]: stage 'ingest' uses params section "
        "'ingest', which params.yaml does not have (hint: add 'ingest:' to params.yaml or fix "
        "the name)"
    ]


def test_an_undeclared_section_the_stage_reads_must_exist(typed: Path) -> None:
    path = typed / "stages" / "ingest" / "params.py"
    path.write_text(
        path.read_text().replace(
            '{"ingest": IngestParams}', '{"ingest": IngestParams, "extra": IngestParams}'
        )
    )
    with pytest.raises(
        ParamsError,
        match=r"params.yaml:1 \[extra\]: section 'extra' is missing; stage 'ingest' reads it "
        r"\(stages/ingest/params.py\) \(hint: add 'extra:' to params.yaml\)",
    ):
        _load(typed)


def test_a_nested_declared_section_must_exist(typed: Path) -> None:
    (typed / SPEC).write_text(
        VALID_SPEC.replace("params: [transform]", "params: [transform.splat]")
    )
    with pytest.raises(SpecError, match=r"section 'transform.splat'.*add 'transform.splat:'"):
        _load(typed)


def test_a_syntax_error_in_a_params_module_is_located(typed: Path) -> None:
    (typed / "stages" / "transform" / "params.py").write_text("x = 1\nPARAMS = {\n")
    with pytest.raises(
        ParamsError,
        match=r"stages/transform/params.py:2: cannot import stage 'transform' params module "
        r"stages/transform/params.py: SyntaxError",
    ):
        _load(typed)


def test_an_import_failure_names_the_project_file_and_line(typed: Path) -> None:
    (typed / "stages" / "ingest" / "rules.py").write_text("x = 1\nraise RuntimeError('boom')\n")
    with pytest.raises(
        ParamsError,
        match=r"stages/ingest/rules.py:2: cannot import stage 'ingest' params module "
        r"stages/ingest/params.py: RuntimeError: boom",
    ):
        _load(typed)


def test_a_malformed_params_mapping_is_refused(typed: Path) -> None:
    (typed / "stages" / "transform" / "params.py").write_text("PARAMS = {'transform': int}\n")
    with pytest.raises(
        ParamsError, match=r"stages/transform/params.py \[PARAMS\]: PARAMS must map"
    ):
        _load(typed)


def test_a_module_without_params_and_one_that_prints_are_fine(typed: Path) -> None:
    (typed / "stages" / "transform" / "params.py").write_text("print('hello')\nX = 1\n")
    path = typed / "stages" / "ingest" / "params.py"
    path.write_text("print('{not json')\n" + path.read_text())
    _load(typed)
    _set(typed, "seed: 1", "seed: 1000")
    with pytest.raises(ParamsError, match=r"\[ingest.seed\]: Input should be less than or equal"):
        _load(typed)


def test_each_project_is_checked_with_its_own_stages(typed: Path, tmp_path: Path) -> None:
    # The same stage name, different rules: an in-process import would reuse the first one.
    other = tmp_path / "other"
    shutil.copytree(typed, other)
    (other / "stages" / "ingest" / "rules.py").write_text("MAX_SEED = 0\n")
    _load(typed)
    with pytest.raises(
        ParamsError, match=r"\[ingest.seed\]: Input should be less than or equal to 0"
    ):
        _load(other)
    _load(typed)
    assert not list(typed.rglob("__pycache__"))  # nothing written inside stage code (a DVC dep)


def test_a_problem_shared_by_stages_is_reported_once(typed: Path) -> None:
    (typed / "stages" / "transform" / "params.py").write_text(INGEST_PARAMS)
    _set(typed, "seed: 1", "seed: -1")
    with pytest.raises(ParamsError) as info:
        _load(typed)
    assert [p.path for p in info.value.problems] == ["ingest.seed"]


STAGES = [StageParams("ingest", ("ingest",)), StageParams("transform", ("transform",))]


def _no_subprocess(*args: object, **kwargs: object) -> object:
    raise AssertionError("the remembered result should have been used")


def test_a_clean_result_is_remembered_until_params_or_code_change(
    typed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert check_params(typed, STAGES) == []
    assert not (typed / CACHE).exists()  # only remembered when asked
    assert check_params(typed, STAGES, remember=True) == []
    assert (typed / CACHE).is_file()
    real_run = subprocess.run
    monkeypatch.setattr(params_check.subprocess, "run", _no_subprocess)
    assert check_params(typed, STAGES, remember=True) == []
    for edit in (
        lambda: _set(typed, "seed: 1", "seed: -1"),  # params.yaml
        lambda: (typed / "stages" / "ingest" / "rules.py").write_text("MAX_SEED = 0\n"),
        lambda: (typed / "stages" / "transform" / "params.py").write_text("PARAMS = {}\n"),
    ):
        edit()
        with pytest.raises(AssertionError, match="remembered result"):
            check_params(typed, STAGES, remember=True)
    monkeypatch.setattr(params_check.subprocess, "run", real_run)
    assert [p.path for p in check_params(typed, STAGES, remember=True)] == ["ingest.seed"]


def test_a_failed_check_is_not_remembered(typed: Path) -> None:
    _set(typed, "seed: 1", "seed: -1")
    assert check_params(typed, STAGES, remember=True)
    assert not (typed / CACHE).exists()


class _Observer:
    def stage_started(self, stage: str) -> None:
        pass

    def stage_finished(self, result: dvc_executor.StageResult) -> None:
        pass


def _never(*args: object, **kwargs: object) -> object:
    raise AssertionError("nothing may run with bad params")


def test_run_refuses_bad_params_on_its_fast_path_too(
    typed: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-C", str(typed), "compile"]) == 0
    _set(typed, "seed: 1", "seed: -1")  # the dvc.yaml stamp stays current
    monkeypatch.setattr(dvc_executor, "reproduce", _never)
    for dry in (True, False):
        with pytest.raises(ParamsError, match=r"params.yaml:2 \[ingest.seed\]"):
            api.run(typed, _Observer(), dry_run=dry)
    capsys.readouterr()
    assert main(["-C", str(typed), "run", "--dry-run"]) == 2
    assert "params.yaml:2 [ingest.seed]" in capsys.readouterr().err
    assert main(["-C", str(typed), "check", "--no-env"]) == 2  # status, validate: integration


def test_only_a_real_run_remembers_the_check(typed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["-C", str(typed), "compile"]) == 0
    monkeypatch.setattr(dvc_executor, "reproduce", _never)
    with pytest.raises(AssertionError, match="nothing may run"):
        api.run(typed, _Observer(), dry_run=True)
    assert not (typed / CACHE).exists()
    with pytest.raises(AssertionError, match="nothing may run"):
        api.run(typed, _Observer())
    assert (typed / CACHE).is_file()


def _pets_copy(tmp_path: Path) -> Path:
    return pets_copy(tmp_path / "pets")


def test_the_pets_params_pass_and_the_reported_examples_are_refused(tmp_path: Path) -> None:
    root = _pets_copy(tmp_path)
    spec = "pipelines/pets.yaml"
    load_spec(root / spec, root, display=spec)
    text = (root / "params.yaml").read_text()
    text = text.replace("  epochs: 30\n", "  epochs: -1\n")
    text = text.replace("  image_size: [128, 128]", '  image_size: "big"')
    (root / "params.yaml").write_text(text)
    with pytest.raises(ParamsError) as info:
        load_spec(root / spec, root, display=spec)
    lines = text.splitlines()
    found = {p.path: p for p in info.value.problems}
    assert set(found) == {"train.epochs", "transform.image_size"}
    assert lines[found["train.epochs"].line - 1] == "  epochs: -1"
    assert found["transform.image_size"].file == "params.yaml"
    assert "image_size" in lines[found["transform.image_size"].line - 1]
    assert "stages/train/params.py (TrainParams)" in (found["train.epochs"].hint or "")


def test_every_pets_stage_maps_the_sections_its_spec_declares() -> None:
    spec = load_spec(REPO_ROOT / "pipelines" / "pets.yaml")
    for stage in spec.stages:
        module = (REPO_ROOT / stage.code_dir / "params.py").read_text()
        for section in stage.params:
            assert f'"{section}":' in module, (stage.name, section)


def test_params_sections_of_stages_without_a_module_only_need_to_exist(tmp_path: Path) -> None:
    root = make_project(tmp_path / "plain")
    _load(root)
    (root / "params.yaml").write_text(textwrap.dedent("ingest: {}\n"))
    with pytest.raises(SpecError, match=r"params section 'transform'"):
        _load(root)
