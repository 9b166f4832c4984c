"""The scratch workspace of a seed: what it holds, and deciding whether a stage must run again.

No real pipeline stage runs here: a one-line stage, run through the real launcher, stands in.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
import yaml

from pedigree.errors import StageFailedError
from pedigree.replicate.summary import SUMMARY_PATH, Replicated, empty_summary
from pedigree.replicate.upstream import Plan
from pedigree.replicate.workspace import (
    SCRATCH,
    build_workspace,
    run_stage,
    scratch_dir,
    stage_is_current,
)

# Reads its input and its seed, writes one output: enough to see reruns and reuse.
SCRIPT = (
    "import yaml,pathlib;"
    "s=yaml.safe_load(open('params.yaml'))['determinism']['seed'];"
    "t=open('data/prepared/x.txt').read();"
    "pathlib.Path('models').mkdir(exist_ok=True);"
    "open('models/out.txt','w').write(f'{t}-{s}');print('done')"
)
CMD = shlex.join(
    ["python", "-m", "pedigree.launch", "--stage", "train", "--", "python", "-c", SCRIPT]
)
FAILING = shlex.join(
    ["python", "-m", "pedigree.launch", "--stage", "train", "--", "python", "-c",
     "print('boom: bad input'); raise SystemExit(3)"]
)  # fmt: skip


def make_root(root: Path) -> Path:
    """A project with code, a lock, params, dvc.yaml/lock and upstream outputs (no git, no DVC)."""
    (root / "stages" / "train").mkdir(parents=True)
    (root / "stages" / "__init__.py").write_text("", encoding="utf-8")
    (root / "stages" / "train" / "main.py").write_text("x = 1\n", encoding="utf-8")
    (root / "stages" / "train" / "__pycache__").mkdir()
    (root / "stages" / "train" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    (root / "images" / "train").mkdir(parents=True)
    (root / "images" / "train" / "requirements.lock").write_text("x==1\n", encoding="utf-8")
    params = {"determinism": {"seed": 1234, "intra_op_threads": 2}, "train": {"epochs": 2}}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    dvc = {
        "stages": {
            "train": {
                "cmd": CMD,
                "deps": ["stages/train", "images/train/requirements.lock", "data/prepared"],
                "params": ["determinism", "train"],
                "outs": ["models/out.txt"],
            }
        }
    }
    (root / "dvc.yaml").write_text(yaml.safe_dump(dvc), encoding="utf-8")
    (root / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n", encoding="utf-8")
    (root / ".dvcignore").write_text("__pycache__/\n", encoding="utf-8")
    (root / "data" / "prepared").mkdir(parents=True)
    (root / "data" / "prepared" / "x.txt").write_text("data", encoding="utf-8")
    (root / "models" / "tune").mkdir(parents=True)
    (root / "models" / "tune" / "best_params.json").write_text("{}", encoding="utf-8")
    return root


def make_plan(root: Path, cmd: str = CMD) -> Plan:
    replicated = Replicated(("train",), {}, {}, {}, {})
    return Plan(
        root=root,
        stages=("train",),
        commands={"train": cmd},
        links=("data/prepared", "models/tune"),
        code=("images/train/requirements.lock", "stages/train"),
        metrics_path="models/out.txt",
        replicated=replicated,
        seed="determinism.seed",
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_root(tmp_path / "project")


def test_workspace_holds_code_params_and_links(root: Path) -> None:
    ws = build_workspace(make_plan(root), 7)
    assert ws == scratch_dir(root, 7) == root / SCRATCH / "seed-7"
    # the seed changed, nothing else
    params = yaml.safe_load((ws / "params.yaml").read_text())
    assert params == {"determinism": {"seed": 7, "intra_op_threads": 2}, "train": {"epochs": 2}}
    # code copied (not linked), bytecode left behind; the lock and the DVC files copied
    assert not (ws / "stages").is_symlink() and (ws / "stages" / "train" / "main.py").is_file()
    assert not (ws / "stages" / "train" / "__pycache__").exists()
    for rel in ("images/train/requirements.lock", "dvc.yaml", "dvc.lock", ".dvcignore"):
        assert (ws / rel).read_bytes() == (root / rel).read_bytes(), rel
    # upstream outputs: hard links to replicate's own copy, never links into the project
    for rel, name in (("data/prepared", "x.txt"), ("models/tune", "best_params.json")):
        assert not (ws / rel).is_symlink() and (ws / rel).is_dir()
        ours, project = ws / rel / name, root / rel / name
        assert ours.read_bytes() == project.read_bytes()
        assert not os.path.samefile(ours, project)
        assert os.path.samefile(ours, root / SCRATCH / "upstream" / rel / name)
    assert not (ws / "models").is_symlink()
    # evaluate's summary: "no results", whatever the project's says
    assert (ws / SUMMARY_PATH).read_text() == empty_summary().to_json()
    # neither git nor DVC looks inside the workspaces
    assert (root / SCRATCH / ".gitignore").read_text() == "*\n"
    assert (root / SCRATCH / ".dvcignore").read_text() == "/*\n"


def test_rebuilding_follows_the_project_and_keeps_outputs(root: Path) -> None:
    plan = make_plan(root)
    ws = build_workspace(plan, 1)
    (ws / "models" / "out.txt").write_text("an earlier output", encoding="utf-8")
    (root / "stages" / "train" / "main.py").unlink()
    (root / "stages" / "train" / "new.py").write_text("y = 2\n", encoding="utf-8")
    (ws / "models" / "tune" / "best_params.json").unlink()
    (ws / "models" / "tune" / "stray.txt").write_text("x")  # not what the copy holds
    build_workspace(plan, 1)
    assert sorted(p.name for p in (ws / "stages" / "train").iterdir()) == ["new.py"]
    assert (ws / "models" / "out.txt").read_text() == "an earlier output"
    assert sorted(p.name for p in (ws / "models" / "tune").iterdir()) == ["best_params.json"]
    # the project's own files are untouched
    assert (root / "models" / "tune" / "best_params.json").read_text() == "{}"
    assert not list((ws / "stages").parent.glob(".stages.partial-*"))


def test_a_stage_runs_once_then_is_reused_until_something_changes(root: Path) -> None:
    plan = make_plan(root)
    ws = build_workspace(plan, 5)
    assert not stage_is_current(ws, "train")  # never ran
    run_stage(ws, "train", CMD, 5)
    assert (ws / "models" / "out.txt").read_text() == "data-5"
    assert (ws / "lineage" / "train.json").is_file()  # the launcher recorded the run
    assert (ws / ".pedigree" / "logs" / "train.log").read_text().strip() == "done"
    assert stage_is_current(ws, "train")
    build_workspace(plan, 5)  # a second `pedigree replicate`: same code, params, data
    assert stage_is_current(ws, "train")
    # a changed output, input, param or code each means running again
    (ws / "models" / "out.txt").write_text("tampered", encoding="utf-8")
    assert not stage_is_current(ws, "train")
    run_stage(ws, "train", CMD, 5)
    assert stage_is_current(ws, "train")
    (root / "data" / "prepared" / "x.txt").write_text("new data", encoding="utf-8")
    build_workspace(plan, 5)  # the next `pedigree replicate` copies the new upstream output
    assert not stage_is_current(ws, "train")
    (root / "data" / "prepared" / "x.txt").write_text("data", encoding="utf-8")
    build_workspace(plan, 5)
    assert stage_is_current(ws, "train")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"]["epochs"] = 3
    (root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    build_workspace(plan, 5)
    assert not stage_is_current(ws, "train")
    run_stage(ws, "train", CMD, 5)
    (root / "stages" / "train" / "main.py").write_text("x = 2\n", encoding="utf-8")
    build_workspace(plan, 5)
    assert not stage_is_current(ws, "train")


def test_lineage_off_in_the_environment_still_records(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PEDIGREE_LINEAGE", "off")
    ws = build_workspace(make_plan(root), 2)
    run_stage(ws, "train", CMD, 2)
    assert stage_is_current(ws, "train")
    assert os.environ["PEDIGREE_LINEAGE"] == "off"


def test_a_failing_stage_names_the_seed_the_stage_and_its_log(root: Path) -> None:
    ws = build_workspace(make_plan(root, FAILING), 3)
    log = ws / ".pedigree" / "logs" / "train.log"
    with pytest.raises(
        StageFailedError, match=rf"seed 3: stage 'train' failed \(exit 3\); its log: {log}"
    ) as info:
        run_stage(ws, "train", FAILING, 3)
    assert info.value.stage == "train" and "boom: bad input" in info.value.log_tail
    assert info.value.exit_code == 1
    assert not stage_is_current(ws, "train")
