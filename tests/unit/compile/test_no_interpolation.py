"""No spec string reaches DVC's `${...}` or Argo's `{{...}}` interpolation (issue 12, class 1).

DVC substitutes `${...}` in every string of dvc.yaml, inside shell quotes too, before the shell
runs the command. Validation refuses `${` in everything the compiler writes into dvc.yaml, and
the compiler refuses it again, so a spec built in code cannot bypass the check. The same holds
for Argo's `{{` in what the Argo compiler copies from the spec.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml
from dvc.parsing.interpolate import is_interpolated_string

from pedigree.compile.argo import workflow_object, workflow_template_object
from pedigree.compile.dvc import launcher_argv, render_dvc_yaml
from pedigree.errors import PedigreeError, SpecError
from pedigree.spec.checks import load_spec
from pedigree.spec.model import PipelineSpec, Stage
from tests.conftest import VALID_SPEC

INJECTION = "${note}"

# Everything the compiler writes into dvc.yaml that comes from the spec, and how to put a value
# there. Stage names cannot hold `$`, `{` or `}` at all (test_hostile_names).
DVC_FIELDS = {
    "cmd item": ("stages.transform]", "stages.transform, {v}]"),
    "deps": ("deps: [data/raw]", "deps: [data/raw, {v}]"),
    "outs": ("outs: [data/prepared]", "outs: [{v}]"),
    "metrics": ("outs: [data/prepared]", "outs: [data/prepared]\n      metrics: [{v}]"),
    "plots": ("outs: [data/prepared]", "outs: [data/prepared]\n      plots: [{v}]"),
    "params": ("params: [transform]", "params: [transform, {v}]"),
    "image": ("      retries: 2\n", "      retries: 2\n      image: {v}\n"),
    "inputs": ("spec:\n  stages:", "spec:\n  inputs: [{v}]\n  stages:"),
    "state": ("      retries: 2\n", "      retries: 2\n      stateful: true\n      state: [{v}]\n"),
}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pets.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _spec(tmp_path: Path, text: str = VALID_SPEC) -> PipelineSpec:
    return load_spec(_write(tmp_path, text))


def _with_stage(spec: PipelineSpec, name: str, **changes: object) -> PipelineSpec:
    """`spec` with one stage changed, bypassing validation (a spec built in code)."""
    stages = tuple(s.model_copy(update=changes) if s.name == name else s for s in spec.stages)
    return spec.model_copy(update={"spec": spec.spec.model_copy(update={"stages": stages})})


@pytest.mark.parametrize("value", [INJECTION, "data/${x}", "a${b.c}z", "\\${escaped}", "${}"])
@pytest.mark.parametrize("field", sorted(DVC_FIELDS))
def test_validation_refuses_dvc_interpolation(tmp_path: Path, field: str, value: str) -> None:
    old, new = DVC_FIELDS[field]
    text = VALID_SPEC.replace(old, new.format(v=json.dumps(value)))
    with pytest.raises(SpecError, match=r"pets\.yaml:\d+ \[spec\.") as info:
        load_spec(_write(tmp_path, text))
    message = str(info.value)
    assert "contains '${': DVC would replace ${...} with a value from params.yaml" in message


def test_a_cmd_item_with_interpolation_says_how_to_pass_params(tmp_path: Path) -> None:
    text = VALID_SPEC.replace("stages.transform]", "stages.transform, --note, '${note}']")
    with pytest.raises(SpecError) as info:
        load_spec(_write(tmp_path, text))
    (problem,) = info.value.problems
    assert problem.path == "spec.stages[1].cmd[4]" and problem.line == 12
    assert problem.hint is not None and "--params, params.yaml" in problem.hint


@pytest.mark.parametrize(
    "item",
    ["$note", "$(touch x)", "`touch x`", "{note}", "$ {note}", "$$", "x'; touch p; echo '"],
)
def test_shell_looking_cmd_items_are_plain_argv(tmp_path: Path, item: str) -> None:
    """DVC interpolates only `${...}`; anything else is quoted for the shell and stays one item."""
    text = VALID_SPEC.replace("stages.transform]", f"stages.transform, {json.dumps(item)}]")
    spec = _spec(tmp_path, text)
    dvc_yaml = yaml.safe_load(render_dvc_yaml(spec, "pipelines/pets.yaml", shared_code=False))
    cmd = dvc_yaml["stages"]["transform"]["cmd"]
    assert not is_interpolated_string(cmd)
    assert shlex.split(cmd) == launcher_argv(spec.stage("transform"))
    assert shlex.split(cmd)[-1] == item


def test_refusing_dollar_brace_covers_dvc_interpolation() -> None:
    """DVC's grammar starts every interpolation with `${`: nothing else is substituted."""
    from dvc.parsing.interpolate import BRACE_OPEN

    assert BRACE_OPEN == "${"
    for value in (INJECTION, "a${b.c}z", "${}"):
        assert is_interpolated_string(value)
    for value in ("$note", "{note}", "$ {x}", "`x`", "$(x)", "{{x}}"):
        assert not is_interpolated_string(value)


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"cmd": ("python", "-m", "stages.transform", INJECTION)}, "stages.transform.cmd"),
        ({"deps": ("data/raw", "data/${x}")}, "stages.transform.deps[4]"),
        ({"outs": ("data/${x}",)}, "stages.transform.outs[0]"),
        ({"metrics": ("m/${x}.json",)}, "stages.transform.metrics[0]"),
        ({"plots": ("p/${x}.csv",)}, "stages.transform.plots[0]"),
        ({"params": ("transform", "${x}")}, "stages.transform.params[1]"),
        ({"image": "images/${x}"}, "stages.transform.deps[2]"),
    ],
)
def test_the_compiler_refuses_interpolation_in_a_spec_built_in_code(
    tmp_path: Path, changes: dict[str, object], where: str
) -> None:
    spec = _with_stage(_spec(tmp_path), "transform", **changes)
    with pytest.raises(SpecError) as info:
        render_dvc_yaml(spec, "pipelines/pets.yaml", shared_code=True)
    (problem,) = info.value.problems
    assert problem.file == "pipelines/pets.yaml" and problem.path == "spec.stages[1]"
    assert f"into dvc.yaml ({where})" in problem.message, problem.message
    assert "--params, params.yaml" in (problem.hint or "")


def test_the_compiler_refuses_interpolation_in_a_stage_name(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    bad = Stage.model_construct(**{**dict(spec.stages[0]), "name": "in${x}"})
    spec = spec.model_copy(
        update={"spec": spec.spec.model_copy(update={"stages": (bad, spec.stages[1])})}
    )
    with pytest.raises(SpecError, match=r"stage 'in\$\{x\}' would put"):
        render_dvc_yaml(spec, "pipelines/pets.yaml", shared_code=False)


def test_a_valid_spec_compiles(tmp_path: Path) -> None:
    text = render_dvc_yaml(_spec(tmp_path), "pipelines/pets.yaml", shared_code=False)
    assert "${" not in text and "stages:" in text


# --- Argo: no `{{` from the spec reaches the WorkflowTemplate ---------------------------------


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ("state", "spec.stages[1].state[0]"),
        ("description", "metadata.description"),
        ("repository", "metadata.repository"),
    ],
)
def test_the_argo_compiler_refuses_expressions_in_a_spec_built_in_code(
    tmp_path: Path, change: str, where: str
) -> None:
    spec = _spec(tmp_path)
    value = "{{workflow.parameters.repo}}"
    if change == "state":
        spec = _with_stage(spec, "transform", stateful=True, state=(value,))
    else:
        spec = spec.model_copy(
            update={"metadata": spec.metadata.model_copy(update={change: value})}
        )
    with pytest.raises(SpecError) as info:
        workflow_template_object(spec, "pipelines/pets.yaml")
    (problem,) = info.value.problems
    assert problem.path == where and "Argo would evaluate it" in problem.message


def test_the_argo_compiler_checks_everything_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spec string copied somewhere new is caught by the walk over the compiled object."""
    from pedigree.compile import argo

    monkeypatch.setattr(argo, "_copied_strings", lambda spec: iter(()))
    spec = _with_stage(_spec(tmp_path), "transform", stateful=True, state=("db/{{x}}",))
    with pytest.raises(
        SpecError, match=r"would hold '/workspace/db/\{\{x\}\}' at WorkflowTemplate"
    ):
        workflow_template_object(spec, "pipelines/pets.yaml")


def test_the_compiled_template_holds_only_pedigrees_own_expressions(tmp_path: Path) -> None:
    text = VALID_SPEC.replace("stages.transform]", "stages.transform, '{{not.argo}}']")
    template = workflow_template_object(_spec(tmp_path, text), "pipelines/pets.yaml")
    assert "{{not.argo}}" not in json.dumps(template)  # cmd items stay in the spec, not the pod
    assert "{{workflow.parameters.repo}}" in json.dumps(template)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("{{workflow.name}}", "contains '{{': Argo would evaluate"),
        ("main\n", r"control character U\+000A"),
        ("main\x00", r"control character U\+0000"),
    ],
)
def test_submitted_parameters_are_passed_literally(tmp_path: Path, value: str, why: str) -> None:
    spec = _spec(tmp_path)
    assert workflow_object(spec, {"revision": "main"})["spec"]["arguments"]["parameters"] == [
        {"name": "revision", "value": "main"}
    ]
    with pytest.raises(PedigreeError, match=why):
        workflow_object(spec, {"revision": value})


@pytest.mark.parametrize(
    "name", ["pipelines/a\nstages: {}.yaml", "pipelines/a\r.yaml", "p\u2028.yaml"]
)
def test_a_spec_file_name_cannot_break_the_generated_header(tmp_path: Path, name: str) -> None:
    from pedigree.compile.argo import render_argo

    spec = _spec(tmp_path)
    with pytest.raises(PedigreeError, match="rename the spec file"):
        render_dvc_yaml(spec, name, shared_code=False)
    with pytest.raises(PedigreeError, match="rename the spec file"):
        render_argo(spec, name)
    assert render_dvc_yaml(spec, "pipelines/pets.yaml", shared_code=False).startswith("# ")
