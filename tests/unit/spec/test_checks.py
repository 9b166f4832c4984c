"""Spec validation: every bad input is refused with file, line, key path and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from pedigree.errors import SpecError
from pedigree.spec.checks import load_spec
from tests.conftest import VALID_SPEC, make_project


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pets.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(tmp_path: Path, text: str, root: Path | None = None) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec(_spec(tmp_path, text), root)
    return [p.render() for p in info.value.problems]


def test_valid_spec_loads(project: Path) -> None:
    spec = load_spec(project / "pipelines" / "pets.yaml", project)
    assert [s.name for s in spec.stages] == ["ingest", "transform"]
    transform = spec.stage("transform")
    assert transform.resources.cpu == "1"  # YAML int coerced to a Kubernetes quantity
    assert transform.lock_file == "images/transform/requirements.lock"
    assert transform.code_dir == "stages/transform"


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    text = VALID_SPEC.replace("      retries: 2", "      retires: 2")
    with pytest.raises(
        SpecError,
        match=r"pets.yaml:17 \[spec.stages\[1\].retires\]: unknown key 'retires' \(hint: did you mean 'retries'\?\)",
    ):
        load_spec(_spec(tmp_path, text))


def test_unknown_top_level_key(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"unknown key 'metdata'.*did you mean 'metadata'"):
        load_spec(_spec(tmp_path, VALID_SPEC.replace("metadata:", "metdata:")))


def test_unproduced_dep_is_refused_with_suggestion(tmp_path: Path) -> None:
    text = VALID_SPEC.replace("deps: [data/raw]", "deps: [data/rawx]")
    with pytest.raises(
        SpecError,
        match=r":13 \[spec.stages\[1\].deps\[0\]\]: stage 'transform' reads 'data/rawx', which no stage writes and which is not a declared external input \(hint: did you mean 'data/raw'\?\)",
    ):
        load_spec(_spec(tmp_path, text))


def test_declared_external_input_is_accepted(tmp_path: Path) -> None:
    text = VALID_SPEC.replace("spec:\n", "spec:\n  inputs: [sources/pets]\n").replace(
        "params: [ingest]", "params: [ingest]\n      deps: [sources/pets/images]"
    )
    spec = load_spec(_spec(tmp_path, text))
    assert spec.spec.inputs == ("sources/pets",)


def test_two_stages_writing_the_same_output(tmp_path: Path) -> None:
    text = VALID_SPEC.replace("outs: [data/prepared]", "outs: [data/raw]").replace(
        "deps: [data/raw]", "deps: []"
    )
    with pytest.raises(
        SpecError,
        match=r"stage 'transform' writes 'data/raw': the same output as 'data/raw' written by stage 'ingest' \(spec.stages\[0\].outs\[0\], line 10\)",
    ):
        load_spec(_spec(tmp_path, text))


def test_overlapping_outputs(tmp_path: Path) -> None:
    text = VALID_SPEC.replace("outs: [data/prepared]", "outs: [data/raw/more]").replace(
        "deps: [data/raw]", "deps: []"
    )
    with pytest.raises(SpecError, match="an overlapping output as 'data/raw'"):
        load_spec(_spec(tmp_path, text))


def test_cycle_is_named(tmp_path: Path) -> None:
    text = """\
apiVersion: pedigree/v1
kind: Pipeline
metadata: {name: loop}
spec:
  stages:
    - {name: a, cmd: [x], deps: [data/c], outs: [data/a]}
    - {name: b, cmd: [x], deps: [data/a], outs: [data/b]}
    - {name: c, cmd: [x], deps: [data/b], outs: [data/c]}
"""
    with pytest.raises(
        SpecError,
        match=r"stages form a cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)",
    ):
        load_spec(_spec(tmp_path, text))


def test_duplicate_stage_names(tmp_path: Path) -> None:
    text = VALID_SPEC.replace("- name: transform", "- name: ingest").replace(
        "outs: [data/raw]\n", "outs: [data/raw]\n", 1
    )
    problems = _problems(tmp_path, text)
    assert any(
        "duplicate stage name 'ingest' (first used by spec.stages[0])" in p and ":11 " in p
        for p in problems
    )


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/etc/passwd", "'/etc/passwd' is absolute"),
        ("../outside", "'../outside' escapes the project root"),
        ("data/../../x", "escapes the project root"),
        ("data/../raw", "contains '..'; write the direct path \\(raw\\)"),
        ("C:/data", "is absolute"),
        ("data\\\\raw", "uses backslashes"),
    ],
)
def test_bad_paths(tmp_path: Path, path: str, message: str) -> None:
    text = VALID_SPEC.replace("outs: [data/prepared]", f'outs: ["{path}"]')
    with pytest.raises(SpecError, match=r"\[spec.stages\[1\].outs\[0\]\]: .*" + message):
        load_spec(_spec(tmp_path, text))


def test_cmd_as_string_is_refused_with_the_list_form(tmp_path: Path) -> None:
    text = VALID_SPEC.replace(
        "cmd: [python, -m, stages.transform]", "cmd: python -m stages.transform --fast"
    )
    with pytest.raises(
        SpecError,
        match=r":12 \[spec.stages\[1\].cmd\]: cmd must be an argv list, not a string; write cmd: \[python, -m, stages.transform, --fast\]",
    ):
        load_spec(_spec(tmp_path, text))


def test_unknown_api_version_lists_supported(tmp_path: Path) -> None:
    with pytest.raises(
        SpecError,
        match=r"pets.yaml:1 \[apiVersion\]: unknown apiVersion 'pedigree/v9'; this pedigree supports: pedigree/v1",
    ):
        load_spec(_spec(tmp_path, VALID_SPEC.replace("pedigree/v1", "pedigree/v9")))


def test_missing_api_version(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="apiVersion is missing"):
        load_spec(_spec(tmp_path, VALID_SPEC.replace("apiVersion: pedigree/v1\n", "")))


def test_wrong_kind(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"\[kind\]: 'Workflow' is not allowed"):
        load_spec(_spec(tmp_path, VALID_SPEC.replace("kind: Pipeline", "kind: Workflow")))


def test_malformed_yaml(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"pets.yaml:\d+: malformed YAML"):
        load_spec(_spec(tmp_path, VALID_SPEC.replace("outs: [data/raw]", "outs: [data/raw")))


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="pets.yaml: file is empty"):
        load_spec(_spec(tmp_path, ""))


def test_non_utf8_bytes(tmp_path: Path) -> None:
    path = tmp_path / "pets.yaml"
    path.write_bytes(VALID_SPEC.encode().replace(b"name: pets", b"name: p\xe9ts"))
    with pytest.raises(SpecError, match=r"pets.yaml:4: not valid UTF-8: byte 0xe9"):
        load_spec(path)


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="a pipeline spec is a mapping, got list"):
        load_spec(_spec(tmp_path, "- a\n- b\n"))


def test_no_stages(tmp_path: Path) -> None:
    text = "apiVersion: pedigree/v1\nkind: Pipeline\nmetadata: {name: x}\nspec:\n  stages: []\n"
    with pytest.raises(SpecError, match="a pipeline needs at least one stage"):
        load_spec(_spec(tmp_path, text))


def test_an_invalid_stage_is_not_also_reported_as_no_stages(tmp_path: Path) -> None:
    text = VALID_SPEC.replace("retries: 2", "retries: 99")
    with pytest.raises(SpecError, match=r"retries\]: Input should be less than") as info:
        load_spec(_spec(tmp_path, text))
    assert len(info.value.problems) == 1, str(info.value)
    assert "at least one stage" not in str(info.value)


def test_bad_resources_and_names(tmp_path: Path) -> None:
    text = VALID_SPEC.replace("memory: 2Gi", "memory: lots").replace(
        "- name: ingest", "- name: Ingest_1"
    )
    problems = _problems(tmp_path, text)
    assert any(
        "'lots' is not a valid memory quantity (example: 512Mi or 2Gi)" in p for p in problems
    )
    assert any("'Ingest_1' is not a valid stage name" in p for p in problems)


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = VALID_SPEC.replace("retries: 2", "retries: -1").replace(
        "cmd: [python, -m, stages.transform]", "cmd: python"
    )
    assert len(_problems(tmp_path, text)) == 2


def test_project_files_are_checked(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", stages=("ingest",))
    spec_file = root / "pipelines" / "pets.yaml"
    (root / "params.yaml").write_text("ingest: {}\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec(spec_file, root)
    text = str(info.value)
    assert "stage 'transform' has no code folder stages/transform/" in text
    assert "stage 'transform' has no environment lock images/transform/requirements.lock" in text
    assert "params section 'transform', which params.yaml does not have" in text


def test_outputs_inside_project_folders_are_refused(tmp_path: Path) -> None:
    text = VALID_SPEC.replace("outs: [data/prepared]", "outs: [stages/generated]")
    with pytest.raises(SpecError, match="writes 'stages/generated' inside stages/"):
        load_spec(_spec(tmp_path, text))


def test_state_needs_a_stateful_stage(tmp_path: Path) -> None:
    text = VALID_SPEC.replace(
        "      retries: 2\n", "      retries: 2\n      state: [.pedigree/registry]\n"
    )
    problems = _problems(tmp_path, text)
    assert problems == [
        f"{tmp_path / 'pets.yaml'}:18 [spec.stages[1].state]: stage 'transform' keeps state but "
        "is not marked stateful (hint: add 'stateful: true' to the stage, or remove 'state')"
    ]


def test_state_may_not_overlap_an_output(tmp_path: Path) -> None:
    text = VALID_SPEC.replace(
        "      retries: 2\n", "      retries: 2\n      stateful: true\n      state: [data/raw/db]\n"
    )
    with pytest.raises(SpecError, match=r"state path 'data/raw/db' overlaps the output 'data/raw'"):
        load_spec(_spec(tmp_path, text))


def test_state_and_repository_are_read(tmp_path: Path) -> None:
    text = VALID_SPEC.replace(
        "  name: pets\n", "  name: pets\n  repository: https://git.example.com/ml/pets.git\n"
    ).replace(
        "      retries: 2\n",
        "      retries: 2\n      stateful: true\n      state: [.pedigree/registry]\n",
    )
    spec = load_spec(_spec(tmp_path, text))
    assert spec.metadata.repository == "https://git.example.com/ml/pets.git"
    assert spec.stage("transform").state == (".pedigree/registry",)
