"""dvc.yaml compilation: deterministic, with header and implicit deps; golden-file pinned."""

from __future__ import annotations

import os
from pathlib import Path

from pedigree.api import main as api
from pedigree.compile.dvc import render_dvc_yaml
from pedigree.project import spec_named_in
from pedigree.spec.checks import load_spec
from tests.conftest import REPO_ROOT

GOLDEN = REPO_ROOT / "tests" / "golden"


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("PEDIGREE_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} changed; rerun with PEDIGREE_UPDATE_GOLDEN=1 if intended"
    )


def test_fixture_spec_matches_golden(project: Path) -> None:
    spec = load_spec(project / "pipelines" / "pets.yaml", project)
    text = render_dvc_yaml(spec, "pipelines/pets.yaml", shared_code=False)
    _golden("minimal.dvc.yaml", text)
    assert text == render_dvc_yaml(spec, "pipelines/pets.yaml", shared_code=False)


def test_header_names_the_spec_and_says_do_not_edit(project: Path) -> None:
    spec = load_spec(project / "pipelines" / "pets.yaml", project)
    text = render_dvc_yaml(spec, "pipelines/pets.yaml", shared_code=True)
    first = text.splitlines()[0]
    assert first.startswith("# generated from pipelines/pets.yaml by pedigree, do not edit")
    assert spec_named_in(text) == "pipelines/pets.yaml"


def test_implicit_deps_come_first(project: Path) -> None:
    spec = load_spec(project / "pipelines" / "pets.yaml", project)
    text = render_dvc_yaml(spec, "pipelines/pets.yaml", shared_code=True)
    block = text.split("  transform:\n", 1)[1]
    assert (
        "    - stages/transform\n    - stages/common\n    - images/transform/requirements.lock\n    - data/raw\n"
        in block
    )
    assert "cmd: python -m pedigree.launch --stage transform -- python -m stages.transform" in block


def test_project_dvc_yaml_matches_golden() -> None:
    loaded = api.load(REPO_ROOT)
    text = api.render_dvc(loaded)
    _golden("pets.dvc.yaml", text)
    assert (REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8") == text, (
        "dvc.yaml is stale: run `pedigree compile`"
    )


def test_compile_writes_only_on_change(project: Path) -> None:
    first = api.compile_dvc(project)
    assert first.changed and first.path.is_file()
    mtime = first.path.stat().st_mtime_ns
    second = api.compile_dvc(project)
    assert not second.changed and first.path.stat().st_mtime_ns == mtime


def test_stamp_tracks_spec_and_dvc_yaml(project: Path) -> None:
    from pedigree.compile.header import stamp_is_current

    assert not stamp_is_current(project, "pipelines/pets.yaml")
    api.compile_dvc(project)
    assert stamp_is_current(project, "pipelines/pets.yaml")
    spec = project / "pipelines" / "pets.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    assert not stamp_is_current(project, "pipelines/pets.yaml")
    api.compile_dvc(project)
    (project / "dvc.yaml").write_text("stages: {}\n", encoding="utf-8")  # a hand edit
    assert not stamp_is_current(project, "pipelines/pets.yaml")


def test_a_stateful_stage_is_never_restored_from_the_run_cache(project: Path) -> None:
    """`stateful: true` marks every output `persist`, which keeps DVC from using its run-cache."""
    spec_file = project / "pipelines" / "pets.yaml"
    text = spec_file.read_text(encoding="utf-8").replace(
        "      retries: 2\n",
        "      retries: 2\n      stateful: true\n      metrics: [reports/decision.json]\n",
    )
    spec_file.write_text(text, encoding="utf-8")
    spec = load_spec(spec_file, project)
    assert spec.stage("transform").stateful and not spec.stage("ingest").stateful
    compiled = render_dvc_yaml(spec, "pipelines/pets.yaml", shared_code=False)
    block = compiled.split("  transform:\n", 1)[1]
    assert "    outs:\n    - data/prepared:\n        persist: true\n" in block
    assert "    - reports/decision.json:\n        cache: false\n        persist: true\n" in block
    assert "persist" not in compiled.split("  transform:\n", 1)[0]  # ingest is untouched
