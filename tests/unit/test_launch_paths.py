"""The launcher records exactly the paths dvc.lock uses, and refuses a stage whose paths lead out
of the project through a symlink (plain `dvc repro` reaches it without pedigree's checks)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pedigree.launch import UNSAFE_PATH_EXIT, escaping_paths
from pedigree.lineage import store
from pedigree.lineage.capture import read_stage_def, recorded_path
from tests.unit.conftest import launch_demo_stage

DVC_YAML = """\
# generated from pipelines/demo.yaml by pedigree, do not edit
stages:
  demo:
    cmd: python -m pedigree.launch --stage demo -- python stage.py
    deps:
    - stages/demo
    - images/demo/requirements.lock
    - data/current/in.txt
    outs:
    - data/current/out
    metrics:
    - data/current/metrics.json:
        cache: false
"""
STAGE = """\
import json, pathlib
base = pathlib.Path("data/current")
out = base / "out"; out.mkdir(parents=True, exist_ok=True)
(out / "copy.txt").write_text((base / "in.txt").read_text().upper())
(base / "metrics.json").write_text(json.dumps({"n": 1}))
pathlib.Path("ran.marker").write_text("ran")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "stages" / "demo").mkdir(parents=True)
    (root / "stages" / "demo" / "code.py").write_text("x = 1\n")
    (root / "images" / "demo").mkdir(parents=True)
    (root / "images" / "demo" / "requirements.lock").write_text("numpy==2.0 --hash=sha256:00\n")
    (root / "data" / "v2").mkdir(parents=True)
    (root / "data" / "v2" / "in.txt").write_text("hello\n")
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "stage.py").write_text(STAGE)
    return root


def test_the_record_names_the_dvc_lock_paths_not_the_link_targets(project: Path) -> None:
    os.symlink("v2", project / "data" / "current")  # a link that stays inside: allowed
    done = launch_demo_stage(project)
    assert done.returncode == 0, done.stderr
    record = store.read_current(project, "demo")
    assert record is not None
    assert sorted(o.path for o in record.outputs) == [
        "data/current/metrics.json",
        "data/current/out",
    ]
    assert sorted(i.path for i in record.inputs) == [
        "data/current/in.txt",
        "images/demo/requirements.lock",
        "stages/demo",
    ]
    assert record.environment.lock["path"] == "images/demo/requirements.lock"
    for path in [*(o.path for o in record.outputs), *(i.path for i in record.inputs)]:
        assert not path.startswith("/") and "v2" not in path


def test_a_stage_whose_output_leads_outside_does_not_run(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    (outside / "in.txt").parent.mkdir(parents=True)
    (outside / "in.txt").write_text("hello\n")
    os.symlink(outside, project / "data" / "current")
    done = launch_demo_stage(project)
    assert done.returncode == UNSAFE_PATH_EXIT
    assert (
        f"pedigree.launch: stage 'demo': dvc.yaml:10 [stages.demo.outs[0]]: data/current is a "
        f"symlink to {outside}, outside the project: stage 'demo' outs 'data/current/out' "
        "would be written there" in done.stderr
    )
    assert not (project / "ran.marker").exists()
    assert sorted(p.name for p in outside.iterdir()) == ["in.txt"]
    assert store.read_current(project, "demo") is None


def test_a_link_into_pedigree_files_is_refused_by_the_launcher(project: Path) -> None:
    (project / ".pedigree" / "logs").mkdir(parents=True)
    os.symlink(project / ".pedigree" / "logs", project / "data" / "current")
    assert any(
        "data/current is a symlink to .pedigree/logs, inside .pedigree/" in p
        for p in escaping_paths("demo", project)
    )
    assert escaping_paths("other", project) == []  # a stage dvc.yaml does not have: nothing


@pytest.mark.parametrize("bad", ["/abs/out", "../up/out", "data/../../out", ""])
def test_paths_that_leave_the_project_are_never_recorded(bad: str, project: Path) -> None:
    with pytest.raises(ValueError, match="not a path inside the project"):
        recorded_path(bad)
    (project / "dvc.yaml").write_text(DVC_YAML.replace("- data/current/out", f"- '{bad}'"))
    with pytest.raises(ValueError, match="not a path inside the project"):
        read_stage_def(project, "demo")


def test_paths_are_recorded_as_written() -> None:
    assert recorded_path("data/current/out") == "data/current/out"
    assert recorded_path("models/model.keras") == "models/model.keras"
