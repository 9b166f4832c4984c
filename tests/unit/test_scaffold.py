"""Scaffolding: the files of a new project and stage, never overwriting, and a stage entry
added to a spec's text with its comments kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pedigree.api import init as init_api
from pedigree.api import stage as stage_api
from pedigree.errors import PedigreeError, ProjectError, SpecError
from pedigree.locks import requirement_names
from pedigree.scaffold.files import project_files, stage_entry, stage_files, write_new
from pedigree.scaffold.spec_edit import insert_stage
from pedigree.spec.checks import load_spec
from pedigree.spec.yamlsource import load_yaml_bytes

SPEC = """\
# a comment at the top
apiVersion: pedigree/v1
kind: Pipeline
metadata:
  name: demo
spec:
  stages:
    # the first stage
    - name: load
      cmd: [python, -m, stages.load]
      outs: [data/load]

    - name: fit   # trailing comment
      cmd: [python, -m, stages.fit]
      deps: [data/load]
      outs: [data/fit]
# a comment at the end
"""


def _insert(text: str, entry: str, after: int | None) -> str:
    return insert_stage(text, load_yaml_bytes(text.encode(), "spec.yaml"), entry, after)


def _names(text: str) -> list[str]:
    return [s["name"] for s in yaml.safe_load(text)["spec"]["stages"]]


def test_insert_appends_after_the_last_stage_keeping_comments() -> None:
    out = _insert(SPEC, stage_entry("score", ("data/fit",)), None)
    assert _names(out) == ["load", "fit", "score"]
    assert out.count("#") == SPEC.count("#")
    assert out.startswith(SPEC.split("# a comment at the end")[0].rstrip("\n"))
    score = yaml.safe_load(out)["spec"]["stages"][2]
    assert score["deps"] == ["data/fit"]
    assert score["cmd"][-4:] == ["--inputs", "data/fit", "--out", "data/score"]


def test_insert_after_a_middle_stage() -> None:
    out = _insert(SPEC, stage_entry("clean", ("data/load",)), 0)
    assert _names(out) == ["load", "clean", "fit"]
    assert "    - name: clean\n" in out  # indented like its siblings
    assert "# the first stage" in out and "# trailing comment" in out


def test_insert_into_a_file_without_a_final_newline() -> None:
    text = SPEC.replace("# a comment at the end\n", "").rstrip("\n")
    out = _insert(text, stage_entry("score"), None)
    assert _names(out) == ["load", "fit", "score"]
    assert "deps" not in yaml.safe_load(out)["spec"]["stages"][2]


def test_insert_with_flow_style_stages_is_refused() -> None:
    text = "spec:\n  stages: [{name: a, cmd: [x]}]\n"
    doc = load_yaml_bytes(text.encode(), "s.yaml")
    doc.lines.pop(("spec", "stages", 0), None)
    doc.lines.pop(("spec", "stages"), None)
    with pytest.raises(SpecError, match="cannot find where the stages are written"):
        insert_stage(text, doc, stage_entry("b"), None)


def test_project_files_make_a_valid_spec(tmp_path: Path) -> None:
    files = project_files("my-pipe")
    write_new(tmp_path, files)
    spec = load_spec(tmp_path / "pipelines/my-pipe.yaml", tmp_path)
    assert [s.name for s in spec.stages] == ["hello"]
    assert spec.metadata.name == "my-pipe"
    assert yaml.safe_load(files["params.yaml"]) == {"hello": {"message": "hello from hello"}}
    assert files["images/hello/requirements.lock"].startswith("# Not compiled yet: run")
    # What a stage image needs for pedigree.stagekit and the lineage launcher (installed
    # without pedigree's own dependencies) is named, so `pedigree lock` pins it.
    needed = ("pyyaml", "pydantic", "pathspec", "openlineage-python")
    assert requirement_names(tmp_path / "images/hello/requirements.in") == needed
    assert requirement_names(tmp_path / "images/requirements.in") == needed
    assert "-r hello/requirements.in" in files["images/requirements.in"]
    assert ".pedigree/" in files[".gitignore"] and ".pedigree/" in files[".dvcignore"]


def test_stage_skeleton_compiles_and_names_its_stage() -> None:
    files = stage_files("fit-model", "fits")
    code = files["stages/fit-model/__main__.py"]
    compile(code, "__main__.py", "exec")
    assert 'load_params("fit-model", Params' in code
    assert "from pedigree.stagekit import" in code
    # The params model lives where `pedigree check` and `run` look (params.py, PARAMS), so a
    # bad value is refused before the stage starts; imported relatively (a name may hold '-').
    assert "from .params import Params" in code
    namespace: dict[str, object] = {}
    exec(compile(files["stages/fit-model/params.py"], "params.py", "exec"), namespace)
    models = namespace["PARAMS"]
    assert isinstance(models, dict) and list(models) == ["fit-model"]
    assert models["fit-model"].model_validate({"message": "hi"}).message == "hi"
    with pytest.raises(ValueError, match="extra"):
        models["fit-model"].model_validate({"message": "hi", "extra": 1})


def test_write_new_keeps_existing_files(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("mine")
    written = write_new(tmp_path, {"a.txt": "theirs", "sub/b.txt": "new"})
    assert written.created == ("sub/b.txt",)
    assert written.kept == ("a.txt",)
    assert (tmp_path / "a.txt").read_text() == "mine"
    again = write_new(tmp_path, {"a.txt": "x", "sub/b.txt": "y"})
    assert again.created == () and (tmp_path / "sub/b.txt").read_text() == "new"


@pytest.mark.parametrize(
    ("folder", "expected"),
    [("My Project", "my-project"), ("__x__", "x"), ("___", "pipeline"), ("a" * 80, "a" * 52)],
)
def test_pipeline_name_from_folder(folder: str, expected: str) -> None:
    assert init_api.pipeline_name_for(Path("/tmp") / folder) == expected


@pytest.mark.parametrize("name", ["Bad", "-x", "x_y", "a" * 60, ""])
def test_init_refuses_an_invalid_name_before_writing(tmp_path: Path, name: str) -> None:
    with pytest.raises(PedigreeError, match="is not a valid pipeline name"):
        init_api.init_project(tmp_path / "p", name)
    assert not (tmp_path / "p").exists()


def _bare_project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)  # no git init, no dvc init: tools stay out of unit tests
    (root / ".dvc").mkdir()
    return root


def test_init_writes_a_project_and_twice_is_a_no_op(tmp_path: Path) -> None:
    root = _bare_project(tmp_path)
    report = init_api.init_project(root, "demo")
    assert "pipelines/demo.yaml" in report.written.created
    assert report.ran == ("pedigree compile",)
    assert (root / "dvc.yaml").is_file()
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    again = init_api.init_project(root, "demo")
    assert again.written.created == () and again.ran == ()
    assert set(again.written.kept) == set(report.written.created)
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_init_names_the_first_stage(tmp_path: Path) -> None:
    root = _bare_project(tmp_path)
    report = init_api.init_project(root, "demo", "load")
    assert "stages/load/__main__.py" in report.written.created
    assert "images/load/requirements.lock" in report.written.created
    assert not (root / "stages" / "hello").exists()
    assert "- name: load" in (root / "pipelines" / "demo.yaml").read_text()
    assert "load:" in (root / "params.yaml").read_text()
    assert "python -m stages.load" in (root / "dvc.yaml").read_text()


@pytest.mark.parametrize("stage", ["Load", "2load", "load-", "a" * 42, "lo ad"])
def test_init_refuses_an_invalid_stage_name_before_writing(tmp_path: Path, stage: str) -> None:
    with pytest.raises(PedigreeError, match=f"'{re.escape(stage)}' is not a valid stage name"):
        init_api.init_project(tmp_path / "p", "demo", stage)
    assert not (tmp_path / "p").exists()


def test_init_keeps_an_existing_params_file(tmp_path: Path) -> None:
    root = _bare_project(tmp_path)
    (root / "params.yaml").write_text("hello:\n  message: mine\n")
    report = init_api.init_project(root, "demo")
    assert "params.yaml" in report.written.kept
    assert (root / "params.yaml").read_text() == "hello:\n  message: mine\n"


def test_init_refuses_a_project_with_another_pipeline(tmp_path: Path) -> None:
    root = _bare_project(tmp_path)
    (root / "pipelines").mkdir()
    (root / "pipelines" / "other.yaml").write_text("x: 1\n")
    with pytest.raises(ProjectError, match=r"already holds other.yaml.*"):
        init_api.init_project(root, "demo")
    assert not (root / "params.yaml").exists()


def test_init_in_a_project_with_that_pipeline_adds_no_stage(tmp_path: Path) -> None:
    root = _bare_project(tmp_path)
    (root / "pipelines").mkdir()
    (root / "pipelines" / "demo.yaml").write_text("mine\n")
    report = init_api.init_project(root, "demo")
    assert report.written.kept == ("pipelines/demo.yaml",)
    assert not (root / "stages" / "hello").exists() and not (root / "images").exists()
    assert (root / "pipelines" / "demo.yaml").read_text() == "mine\n"
    assert (root / ".gitignore").is_file()


def test_init_refuses_a_file_as_target(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ProjectError, match="is a file, not a folder"):
        init_api.init_project(tmp_path / "f")


def test_stage_add_after_reads_outs_and_recompiles(tmp_path: Path) -> None:
    root = _bare_project(tmp_path)
    init_api.init_project(root, "demo")
    report = stage_api.add_stage(root, "features", after="hello")
    assert report.deps == ("data/hello",)
    assert set(report.edited) == {"pipelines/demo.yaml", "params.yaml", "images/requirements.in"}
    dvc = yaml.safe_load((root / "dvc.yaml").read_text())
    assert "data/hello" in dvc["stages"]["features"]["deps"]
    assert (root / "stages/features/__main__.py").is_file()
    assert (root / "images/features/requirements.lock").is_file()
    assert "features:\n  message:" in (root / "params.yaml").read_text()
    assert "-r features/requirements.in" in (root / "images/requirements.in").read_text()
    spec_text = (root / "pipelines/demo.yaml").read_text()
    assert spec_text.startswith("# The pipeline:")  # comments kept


def test_stage_add_appends_last_and_keeps_existing_code(tmp_path: Path) -> None:
    root = _bare_project(tmp_path)
    init_api.init_project(root, "demo")
    stage_api.add_stage(root, "a")
    (root / "stages" / "b").mkdir()
    (root / "stages" / "b" / "__main__.py").write_text("print('mine')\n")
    report = stage_api.add_stage(root, "b")
    assert "stages/b/__main__.py" in report.written.kept
    assert (root / "stages/b/__main__.py").read_text() == "print('mine')\n"
    names = _names((root / "pipelines/demo.yaml").read_text())
    assert names == ["hello", "a", "b"]


@pytest.mark.parametrize(
    ("name", "after", "match"),
    [
        ("hello", None, "stage 'hello' is already in pipelines/demo.yaml"),
        ("x", "nope", "--after nope: pipelines/demo.yaml has no stage 'nope'"),
        ("Upper", None, "'Upper' is not a valid stage name"),
        ("9lives", None, "'9lives' is not a valid stage name"),
    ],
)
def test_stage_add_refusals_change_nothing(
    tmp_path: Path, name: str, after: str | None, match: str
) -> None:
    root = _bare_project(tmp_path)
    init_api.init_project(root, "demo")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(PedigreeError, match=match):
        stage_api.add_stage(root, name, after=after)
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
