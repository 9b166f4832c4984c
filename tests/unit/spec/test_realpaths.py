"""No stage path leads out of the project (or into pedigree's and DVC's own files) through a
symlink: refused before anything runs, named by the link, located in the spec or dvc.yaml."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pedigree.api import main as api
from pedigree.api import pull as pull_api
from pedigree.api import verify as verify_api
from pedigree.cli.main import main
from pedigree.errors import SpecError
from pedigree.executors import dvc as dvc_executor
from pedigree.spec.checks import load_spec
from pedigree.spec.realpaths import check_compiled_paths
from tests.conftest import VALID_SPEC, make_project

SPEC = "pipelines/pets.yaml"


def _load(root: Path) -> None:
    load_spec(root / SPEC, root, display=SPEC)


def _spec(root: Path, text: str) -> Path:
    make_project(root, text)
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    target = tmp_path / "elsewhere"
    target.mkdir()
    return target


def _link(root: Path, rel: str, target: Path | str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def test_outs_under_a_link_leaving_the_project_are_refused(project: Path, outside: Path) -> None:
    _link(project, "data/link", outside)
    (project / SPEC).write_text(VALID_SPEC.replace("outs: [data/raw]", "outs: [data/link/raw]"))
    (project / SPEC).write_text(
        (project / SPEC).read_text().replace("deps: [data/raw]", "deps: [data/link/raw]")
    )
    with pytest.raises(
        SpecError,
        match=rf"pets.yaml:10 \[spec.stages\[0\].outs\[0\]\]: data/link is a symlink to "
        rf"{outside}, outside the project: stage 'ingest' outs 'data/link/raw' would be "
        r"written there \(hint: replace the symlink data/link",
    ) as info:
        _load(project)
    # the reader of the same path is named too, as a read
    assert any(
        "stage 'transform' deps 'data/link/raw' would be read from there" in p.message
        for p in info.value.problems
    )


@pytest.mark.parametrize(
    ("field", "old", "new"),
    [
        ("metrics", "outs: [data/prepared]", "outs: [data/prepared]\n      metrics: [m/x.json]"),
        ("plots", "outs: [data/prepared]", "outs: [data/prepared]\n      plots: [m/x.csv]"),
        (
            "state",
            "retries: 2",
            "retries: 2\n      stateful: true\n      state: [m/registry]",
        ),
    ],
)
def test_every_written_field_is_checked(
    project: Path, outside: Path, field: str, old: str, new: str
) -> None:
    _link(project, "m", outside)
    (project / SPEC).write_text(VALID_SPEC.replace(old, new))
    with pytest.raises(
        SpecError, match=rf"\[spec.stages\[1\].{field}\[0\]\]: m is a symlink to .*would be written"
    ):
        _load(project)


def test_external_input_through_a_link_is_refused(project: Path, outside: Path) -> None:
    (outside / "pets").mkdir()
    _link(project, "sources", outside)
    (project / SPEC).write_text(VALID_SPEC.replace("spec:\n", "spec:\n  inputs: [sources/pets]\n"))
    with pytest.raises(
        SpecError,
        match=r"\[spec.inputs\[0\]\]: sources is a symlink to .*: external input 'sources/pets' "
        "would be read from there",
    ):
        _load(project)


def test_code_folder_and_lock_through_a_link_are_refused(project: Path, outside: Path) -> None:
    (project / "stages" / "ingest").rename(outside / "ingest")
    _link(project, "stages/ingest", outside / "ingest")
    (project / "images" / "transform").rename(outside / "transform")
    _link(project, "images/transform", outside / "transform")
    with pytest.raises(SpecError) as info:
        _load(project)
    text = str(info.value)
    assert "stages/ingest is a symlink to" in text
    assert "stage 'ingest' code folder 'stages/ingest' would be read from there" in text
    assert "stage 'transform' environment lock 'images/transform/requirements.lock'" in text


def test_a_dangling_link_and_a_chain_of_links_are_followed(project: Path, outside: Path) -> None:
    _link(project, "data/gone", outside / "not-yet")  # dangling: DVC would create it there
    _link(project, "data/hop", "second")  # inside, then out
    _link(project, "data/second", outside)
    text = VALID_SPEC.replace("outs: [data/raw]", "outs: [data/gone/raw]").replace(
        "outs: [data/prepared]", "outs: [data/hop/prepared]"
    )
    (project / SPEC).write_text(text)
    with pytest.raises(SpecError) as info:
        _load(project)
    messages = [p.message for p in info.value.problems]
    assert any(
        m.startswith(f"data/gone is a symlink to {outside}/not-yet, outside") for m in messages
    )
    assert any(m.startswith(f"data/hop is a symlink to {outside}, outside") for m in messages)


@pytest.mark.parametrize(
    ("target", "area"),
    [
        (".git/hooks", ".git/"),
        (".dvc/cache", ".dvc/"),
        (".pedigree/logs", ".pedigree/"),
        ("lineage", "lineage/"),
        ("pipelines", "pipelines/"),
    ],
)
def test_links_into_owned_folders_are_refused(project: Path, target: str, area: str) -> None:
    (project / target).mkdir(parents=True, exist_ok=True)
    _link(project, "data/link", project / target)
    (project / SPEC).write_text(VALID_SPEC.replace("outs: [data/raw]", "outs: [data/link/raw]"))
    with pytest.raises(
        SpecError,
        match=rf"data/link is a symlink to {target}, inside {area}, where pedigree and DVC",
    ):
        _load(project)


@pytest.mark.parametrize("file", ["dvc.lock", "dvc.yaml", "params.yaml"])
def test_links_onto_owned_files_are_refused(project: Path, file: str) -> None:
    (project / file).touch()
    _link(project, "data/raw", project / file)
    with pytest.raises(SpecError, match=rf"data/raw is a symlink to {file}, inside {file}"):
        _load(project)


def test_a_link_to_the_project_root_is_refused(project: Path) -> None:
    _link(project, "data", project)
    with pytest.raises(SpecError, match=r"data is a symlink to the project root"):
        _load(project)


def test_writing_into_code_through_a_link_is_refused_reading_is_not(project: Path) -> None:
    _link(project, "data/code", project / "stages" / "ingest")
    (project / SPEC).write_text(VALID_SPEC.replace("outs: [data/raw]", "outs: [data/code/raw]"))
    with pytest.raises(SpecError, match=r"data/code is a symlink to stages/ingest.*where code"):
        _load(project)
    text = VALID_SPEC.replace("deps: [data/raw]", "deps: [data/raw, data/code]").replace(
        "spec:\n", "spec:\n  inputs: [data/code]\n"
    )
    (project / SPEC).write_text(text)
    _load(project)  # reading the code of a stage through a link stays inside the project


def test_a_stage_may_reach_its_own_state_but_not_another_ones(project: Path) -> None:
    (project / ".pedigree" / "registry").mkdir(parents=True)
    _link(project, "models/reg", project / ".pedigree" / "registry")
    stateful = VALID_SPEC.replace(
        "      retries: 2",
        "      retries: 2\n      stateful: true\n      state: [.pedigree/registry]",
    )
    (project / SPEC).write_text(
        stateful.replace("outs: [data/prepared]", "outs: [data/prepared, models/reg/x]")
    )
    _load(project)
    (project / SPEC).write_text(stateful.replace("outs: [data/raw]", "outs: [models/reg/x]"))
    with pytest.raises(SpecError, match=r"\[spec.stages\[0\].outs\[0\]\]: models/reg is a symlink"):
        _load(project)


def test_links_that_stay_in_ordinary_places_are_allowed(project: Path) -> None:
    (project / "data" / "v2").mkdir(parents=True)
    _link(project, "data/current", "v2")
    text = VALID_SPEC.replace("outs: [data/raw]", "outs: [data/current/raw]").replace(
        "deps: [data/raw]", "deps: [data/current/raw]"
    )
    (project / SPEC).write_text(text)
    _load(project)


def test_the_root_may_itself_be_a_symlink(tmp_path: Path, outside: Path) -> None:
    real = make_project(tmp_path / "real")
    alias = tmp_path / "alias"
    os.symlink(real, alias)
    (real / "data" / "v2").mkdir(parents=True)
    _link(real, "data/current", real / "data" / "v2")  # absolute, through the real root
    (real / SPEC).write_text(VALID_SPEC.replace("outs: [data/raw]", "outs: [data/current/raw]"))
    (real / SPEC).write_text(
        (real / SPEC).read_text().replace("deps: [data/raw]", "deps: [data/current/raw]")
    )
    load_spec(alias / SPEC, alias, display=SPEC)
    _link(real, "data/out", outside)
    (real / SPEC).write_text(VALID_SPEC.replace("outs: [data/raw]", "outs: [data/out/raw]"))
    with pytest.raises(SpecError, match=r"data/out is a symlink to .*outside the project"):
        load_spec(alias / SPEC, alias, display=SPEC)


DVC_YAML = """\
stages:
  ingest:
    cmd: python -m stages.ingest
    deps:
    - stages/ingest
    outs:
    - data/link/raw
    metrics:
    - data/link/metrics.json:
        cache: false
"""


def test_the_compiled_variant_is_located_in_dvc_yaml(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "stages" / "ingest").mkdir(parents=True)
    assert check_compiled_paths(root) == []
    _link(root, "data/link", outside)
    rendered = [p.render() for p in check_compiled_paths(root)]
    assert rendered[0].startswith(
        f"dvc.yaml:7 [stages.ingest.outs[0]]: data/link is a symlink to {outside}, outside the "
        "project: stage 'ingest' outs 'data/link/raw' would be written there"
    )
    assert rendered[1].startswith("dvc.yaml:9 [stages.ingest.metrics[0]]: data/link is")
    (root / "dvc.yaml").write_text(DVC_YAML.replace("data/link/raw", "/abs/raw"))
    assert "'/abs/raw' is not inside the project" in check_compiled_paths(root)[0].message


def _never(*args: object, **kwargs: object) -> object:
    raise AssertionError("nothing may run when a path leads out of the project")


class _Observer:
    def stage_started(self, stage: str) -> None:
        pass

    def stage_finished(self, result: dvc_executor.StageResult) -> None:
        pass


@pytest.fixture
def compiled(project: Path) -> Path:
    """A project compiled to dvc.yaml with a current stamp (so `run` takes its fast path)."""
    assert main(["-C", str(project), "compile"]) == 0
    return project


def test_run_fast_path_refuses_a_link_made_after_compiling(
    compiled: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dvc_executor, "reproduce", _never)
    _link(compiled, "data/raw", outside)
    for dry in (False, True):
        with pytest.raises(SpecError, match=r"dvc.yaml:\d+ \[stages.ingest.outs\[0\]\]: data/raw"):
            api.run(compiled, _Observer(), dry_run=dry)
    with pytest.raises(SpecError, match=r"pets.yaml:\d+ \[spec.stages\[0\].outs\[0\]\]: data/raw"):
        api.run(compiled, _Observer(), stage="ingest")  # the validating path
    assert list(outside.iterdir()) == []


def test_compile_validate_verify_and_pull_refuse(
    compiled: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _link(compiled, "data/raw", outside)
    with pytest.raises(SpecError, match="data/raw is a symlink"):
        api.compile_dvc(compiled)
    with pytest.raises(SpecError, match="data/raw is a symlink"):
        api.validate(None, compiled)
    monkeypatch.setattr(verify_api, "select_stages", _never)
    with pytest.raises(SpecError, match=r"dvc.yaml:\d+ \[stages.ingest.outs\[0\]\]: data/raw"):
        verify_api.verify(compiled, all_stages=True)
    with pytest.raises(SpecError, match="data/raw is a symlink"):
        pull_api.pull(compiled, "pets-x", _Observer(), phase_of=_never)
    assert list(outside.iterdir()) == []


def test_run_fast_path_checks_the_spec_state_too(
    project: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stateful = VALID_SPEC.replace(
        "      retries: 2",
        "      retries: 2\n      stateful: true\n      state: [.pedigree/registry]",
    )
    (project / SPEC).write_text(stateful)
    assert main(["-C", str(project), "compile"]) == 0
    monkeypatch.setattr(dvc_executor, "reproduce", _never)
    (project / ".pedigree").mkdir(exist_ok=True)
    _link(project, ".pedigree/registry", outside)  # dvc.yaml has no state: the spec says it
    with pytest.raises(
        SpecError,
        match=r"pipelines/pets.yaml:19 \[spec.stages\[1\].state\[0\]\]: .pedigree/registry is a "
        r"symlink to .*, outside the project: stage 'transform' state '.pedigree/registry'",
    ):
        api.run(project, _Observer())
