"""The launcher writes one lineage record per stage run, outside the stage's outputs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from pedigree.lineage import capture, store
from pedigree.lineage.capture import find_seeds, kind_of, read_stage_def
from pedigree.lineage.hashing import content_hash
from tests.unit.conftest import launch_demo_stage

DVC_YAML = """\
# generated from pipelines/demo.yaml by pedigree, do not edit
stages:
  demo:
    cmd: python -m pedigree.launch --stage demo -- python stage.py
    deps:
    - stages/demo
    - images/demo/requirements.lock
    - data/in.txt
    params:
    - demo
    outs:
    - data/out
    metrics:
    - data/metrics.json:
        cache: false
"""
STAGE = """\
import json, os, pathlib, sys
out = pathlib.Path("data/out"); out.mkdir(parents=True, exist_ok=True)
(out / "copy.txt").write_text(pathlib.Path("data/in.txt").read_text().upper())
pathlib.Path("data/metrics.json").write_text(json.dumps({"n": 1}))
state = os.environ.get("PEDIGREE_LINEAGE_STATE")
if state and os.environ.get("NOTE_STATE"):
    from pedigree.stagekit import note_state
    snap = pathlib.Path("snap.sqlite"); snap.write_bytes(b"snapshot")
    note_state("registry", pathlib.Path("reg/registry.sqlite"), snap, "ab" * 32, pathlib.Path.cwd())
sys.exit(int(os.environ.get("STAGE_EXIT", "0")))
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    (tmp_path / "params.yaml").write_text(
        "demo:\n  seed: 7\n  nested: {sampler_seed: 3, size: 2}\nother: 1\n"
    )
    (tmp_path / "stages" / "demo").mkdir(parents=True)
    (tmp_path / "stages" / "demo" / "code.py").write_text("x = 1\n")
    (tmp_path / "images" / "demo").mkdir(parents=True)
    (tmp_path / "images" / "demo" / "requirements.lock").write_text("numpy==2.0 --hash=sha256:00\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.txt").write_text("hello\n")
    (tmp_path / "stage.py").write_text(STAGE)
    return tmp_path


def test_a_successful_run_is_recorded_with_dvc_hashes(project: Path) -> None:
    done = launch_demo_stage(project)
    assert done.returncode == 0, done.stderr
    record = store.read_current(project, "demo")
    assert record is not None and record.status == "succeeded" and record.exit_code == 0
    assert record.pipeline == "pipelines/demo.yaml" and record.argv == ["python", "stage.py"]
    assert record.cmd.startswith("python -m pedigree.launch --stage demo")
    expected = {p: content_hash(project / p).md5 for p in ("data/out", "data/metrics.json")}
    assert {o.path: o.md5 for o in record.outputs} == expected
    kinds = {i.path: i.kind for i in record.inputs}
    assert kinds == {
        "stages/demo": "code",
        "images/demo/requirements.lock": "environment",
        "data/in.txt": "data",
    }
    assert record.code.folders == {"stages/demo": content_hash(project / "stages/demo").md5}
    assert record.code.git_commit is None  # not a git repository: said, not guessed
    env = record.environment
    assert env.lock["path"] == "images/demo/requirements.lock" and len(env.lock["sha256"]) == 64
    assert env.determinism["PYTHONHASHSEED"] == "0" and env.container is None
    assert record.params == {"demo": {"seed": 7, "nested": {"sampler_seed": 3, "size": 2}}}
    assert record.seeds == {"demo.seed": 7, "demo.nested.sampler_seed": 3, "PYTHONHASHSEED": "0"}
    # The record is outside the outputs, and kept in the local history too.
    assert not list((project / "data" / "out").glob("*.json"))
    assert [r.run_id for r in store.history(project, "demo")] == [record.run_id]


def test_a_failed_run_is_kept_in_history_only(project: Path) -> None:
    assert launch_demo_stage(project).returncode == 0
    good = store.read_current(project, "demo")
    done = launch_demo_stage(project, STAGE_EXIT="3")
    assert done.returncode == 3
    assert store.read_current(project, "demo") == good  # the current record is untouched
    failed = store.history(project, "demo")[-1]
    assert failed.status == "failed" and failed.exit_code == 3 and failed.outputs == []


def test_container_image_and_state_snapshots_are_recorded(project: Path) -> None:
    done = launch_demo_stage(
        project,
        PEDIGREE_IMAGE="pedigree/demo:1",
        PEDIGREE_IMAGE_DIGEST="sha256:" + "c" * 64,
        NOTE_STATE="1",
    )
    assert done.returncode == 0, done.stderr
    record = store.read_current(project, "demo")
    assert record is not None and record.environment.container is not None
    assert record.environment.container.image == "pedigree/demo:1"
    assert record.state["registry"].path == "reg/registry.sqlite"
    assert record.state["registry"].snapshot == "snap.sqlite"
    assert not list((project / ".pedigree" / "lineage").glob("state-*.json"))  # note consumed


def test_lineage_off_writes_no_record(project: Path) -> None:
    assert launch_demo_stage(project, PEDIGREE_LINEAGE="off").returncode == 0
    assert store.read_current(project, "demo") is None and store.history(project, "demo") == []


def test_a_run_without_a_record_fails(project: Path) -> None:
    (project / "dvc.yaml").write_text("stages: [unclosed\n")
    done = launch_demo_stage(project)
    assert done.returncode == 1  # the stage itself succeeded: its outputs must not count
    assert "cannot capture lineage" in done.stderr and "PEDIGREE_LINEAGE=off" in done.stderr
    assert store.read_current(project, "demo") is None


def test_stage_definition_and_kinds(project: Path) -> None:
    definition = read_stage_def(project, "demo")
    assert definition.outs == ("data/out", "data/metrics.json") and definition.params == ("demo",)
    assert read_stage_def(project, "absent").deps == ()
    assert kind_of("stages/common") == "code" and kind_of("data/raw") == "data"
    assert find_seeds({}, {}) == {"PYTHONHASHSEED": None}


def test_corrupt_record_is_a_located_error(project: Path) -> None:
    path = store.current_path(project, "demo")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(
        store.LineageError,
        match=r"lineage/demo.json: not a valid lineage record \(line 1: not valid JSON",
    ):
        store.read_current(project, "demo")
    path.write_text(json.dumps({"stage": "demo"}))
    with pytest.raises(
        store.LineageError, match=r"not a valid lineage record \(key run_id: Field required"
    ):
        store.read_current(project, "demo")


def test_dirty_means_the_stage_code_not_files_a_run_rewrites(project: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(
            ["git", *args],
            cwd=project,
            check=True,
            capture_output=True,
            env=dict(
                os.environ,
                GIT_AUTHOR_NAME="t",
                GIT_AUTHOR_EMAIL="t@t",
                GIT_COMMITTER_NAME="t",
                GIT_COMMITTER_EMAIL="t@t",
            ),
        )

    (project / "dvc.lock").write_text("schema: '2.0'\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "c")
    (project / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")  # as a run rewrites it
    assert launch_demo_stage(project).returncode == 0
    record = store.read_current(project, "demo")
    assert record is not None and len(record.code.git_commit or "") == 40
    assert record.code.git_dirty is False
    (project / "stages" / "demo" / "code.py").write_text("x = 2\n")
    assert launch_demo_stage(project).returncode == 0
    assert store.read_current(project, "demo").code.git_dirty is True


def test_threads_and_determinism_come_from_the_variables_not_a_params_section(
    project: Path,
) -> None:
    # A section that happens to be called `determinism` means nothing to the library: the
    # record keeps it under params, and the environment says only what the variables say.
    (project / "dvc.yaml").write_text(
        DVC_YAML.replace("    - demo\n", "    - demo\n    - determinism\n")
    )
    with (project / "params.yaml").open("a") as handle:
        handle.write("determinism: {intra_op_threads: 2, op_determinism: true}\n")
    env = {"OMP_NUM_THREADS": "3", "PYTHONHASHSEED": "0"}
    run = capture.begin(project, "demo", ["python", "stage.py"], env)
    assert run.params["determinism"] == {"intra_op_threads": 2, "op_determinism": True}
    assert run.environment.threads == {
        "OMP_NUM_THREADS": "3",
        "TF_NUM_INTRAOP_THREADS": None,
        "TF_NUM_INTEROP_THREADS": None,
    }
    assert run.environment.determinism == {
        "PYTHONHASHSEED": "0",
        "TF_ENABLE_ONEDNN_OPTS": None,
        "TF_DETERMINISTIC_OPS": None,
    }


def test_an_input_the_stage_adds_to_is_recorded_as_it_is_after_the_run(project: Path) -> None:
    # a stage may append to what it reads (release appends its decision to the registry's log);
    # dvc.lock hashes deps after the command, so the record must agree with it
    run = capture.begin(project, "demo", ["python", "stage.py"], {})
    before = {a.path: a.md5 for a in run.inputs}["data/in.txt"]
    (project / "data" / "in.txt").write_text("hello\nappended by the stage\n")
    record = capture.finish(run, 0)
    after = {a.path: a.md5 for a in record.inputs}
    assert after["data/in.txt"] == content_hash(project / "data" / "in.txt").md5 != before
    assert after["stages/demo"] == content_hash(project / "stages/demo").md5


def test_inputs_untouched_since_long_before_the_run_are_not_hashed_again(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = 1_000_000_000  # 2001: far before the run
    os.utime(project / "data" / "in.txt", (old, old))
    run = capture.begin(project, "demo", ["python", "stage.py"], {})
    hashed: list[tuple[str, ...]] = []
    real = capture.hash_paths
    monkeypatch.setattr(
        capture,
        "hash_paths",
        lambda root, paths, ignore: hashed.append(paths) or real(root, paths, ignore),
    )
    record = capture.finish(run, 0)
    assert "data/in.txt" not in [p for paths in hashed for p in paths]
    assert {a.path: a.md5 for a in record.inputs} == {a.path: a.md5 for a in run.inputs}
