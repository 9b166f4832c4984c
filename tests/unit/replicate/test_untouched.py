"""`pedigree replicate` never touches the project: its lineage/, dvc.lock, params.yaml, upstream
outputs and outputs are byte for byte and mtime for mtime what they were.

The expensive parts (training, the pipeline's status and hashing) are stand-ins: a one-line stage
run through the real launcher, and a hand-made plan. The stand-in stages are careless on
purpose: they write their inputs, a lineage record and dvc.lock by relative path, as a buggy
stage could; all of that must land in the seed's workspace.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import replace
from pathlib import Path

import pytest

from pedigree.api import replicate as replicate_api
from pedigree.lineage.store import EVENTS_FILE
from pedigree.replicate import upstream
from pedigree.replicate.summary import SUMMARY_PATH, Replicated
from pedigree.replicate.upstream import ReplicateError
from pedigree.replicate.workspace import SCRATCH, build_workspace, run_stage
from tests.unit.replicate.test_replicate_workspace import make_plan, make_root

CARELESS = (
    "import json,pathlib,yaml;"
    "s=yaml.safe_load(open('params.yaml'))['determinism']['seed'];"
    "t=open('data/prepared/x.txt').read();"
    "open('data/prepared/x.txt','a').write('+scribbled');"  # writes into its input
    "pathlib.Path('lineage').mkdir(exist_ok=True);"
    "open('lineage/stray.json','w').write('{}');"
    "open('dvc.lock','a').write('# scribbled\\n');"
    "pathlib.Path('models').mkdir(exist_ok=True);"
    "open('models/out.txt','w').write(json.dumps({'iou': s / 100, 'input': len(t)}))"
)
CARELESS_CMD = shlex.join(
    ["python", "-m", "pedigree.launch", "--stage", "train", "--", "python", "-c", CARELESS]
)


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 and mtime of every project file outside the replicate's own folders."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith((SCRATCH.as_posix(), SUMMARY_PATH)) or not path.is_file():
            continue
        data = hashlib.sha256(path.read_bytes()).hexdigest()
        found[rel] = f"{data}:{path.stat().st_mtime_ns}"
    return found


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with records: lineage/, dvc.lock, its own model output, a pipelines/ folder."""
    root = make_root(tmp_path / "project")
    (root / "pipelines").mkdir()
    (root / "lineage").mkdir()
    (root / "lineage" / "train.json").write_text('{"stage": "train"}', encoding="utf-8")
    (root / "models" / "out.txt").write_text('{"iou": 0.5}', encoding="utf-8")
    return root


def test_workspaces_and_careless_stages_leave_the_project_as_it_was(project: Path) -> None:
    before = tree_digest(project)
    plan = make_plan(project, CARELESS_CMD)
    ws = build_workspace(plan, 3)
    run_stage(ws, "train", CARELESS_CMD, 3)
    # what the stage wrote by relative path is in its workspace
    assert (ws / "lineage" / "stray.json").is_file()
    assert (ws / "lineage" / "train.json").is_file()  # the launcher's record
    assert (ws / "dvc.lock").read_text().endswith("# scribbled\n")
    assert (ws / "data" / "prepared" / "x.txt").read_text() == "data+scribbled"
    assert json.loads((ws / "models" / "out.txt").read_text())["iou"] == 0.03
    build_workspace(plan, 3)  # a refresh after the scribbling: a fresh copy of the input
    assert (ws / "data" / "prepared" / "x.txt").read_text() == "data"
    assert tree_digest(project) == before


def _run_replicate(project: Path, monkeypatch: pytest.MonkeyPatch, cmd: str) -> object:
    plan = make_plan(project, cmd)
    monkeypatch.setattr(upstream, "make_plan", lambda root, folds=False: plan)
    return replicate_api.replicate(project, "1,2")


def test_replicate_writes_only_its_summary(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = tree_digest(project)
    result = _run_replicate(project, monkeypatch, CARELESS_CMD)
    assert isinstance(result, replicate_api.ReplicateResult) and result.changed
    assert result.path == project / SUMMARY_PATH and result.path.is_file()
    assert [s.seed for s in result.seeds] == [1, 2]
    assert tree_digest(project) == before  # everything else is as it was


def test_a_stage_writing_into_the_project_is_caught_and_no_summary_written(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = project / "models" / "out.txt"
    script = CARELESS + f";open({str(target)!r},'w').write('overwritten')"
    cmd = shlex.join(
        ["python", "-m", "pedigree.launch", "--stage", "train", "--", "python", "-c", script]
    )
    with pytest.raises(
        ReplicateError, match=r"the project changed while the replicates ran \(models/out\.txt\)"
    ) as info:
        _run_replicate(project, monkeypatch, cmd)
    assert "no summary was written" in info.value.message
    assert "git checkout" in str(info.value.hint)
    assert not (project / SUMMARY_PATH).exists()


def test_the_replicates_lineage_events_stay_in_the_workspace(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a configured lineage server must not take a replicate for a run of the pipeline
    monkeypatch.setenv("OPENLINEAGE_URL", "http://127.0.0.1:9/never")
    monkeypatch.delenv("OPENLINEAGE_DISABLED", raising=False)
    script = (
        "import os,pathlib;pathlib.Path('models').mkdir(exist_ok=True);"
        "open('models/out.txt','w').write(os.environ.get('OPENLINEAGE_DISABLED', 'unset'))"
    )
    cmd = shlex.join(
        ["python", "-m", "pedigree.launch", "--stage", "train", "--", "python", "-c", script]
    )
    ws = build_workspace(make_plan(project, cmd), 4)
    run_stage(ws, "train", cmd, 4)
    assert (ws / "models" / "out.txt").read_text() == "true"
    assert (ws / EVENTS_FILE).is_file()  # the events are kept in the workspace's own file
    assert not (project / EVENTS_FILE).exists()


def test_the_shared_copy_is_reused_until_it_or_the_project_changes(project: Path) -> None:
    hashes = {"data/prepared": "a" * 32, "models/tune": "b" * 32}
    plan = replace(make_plan(project), replicated=Replicated(("train",), hashes, {}, {}, {}))
    shared = project / SCRATCH / "upstream" / "data" / "prepared" / "x.txt"
    first = build_workspace(plan, 1) / "data" / "prepared" / "x.txt"
    inode = shared.stat().st_ino
    assert first.stat().st_ino == inode  # a hard link to the shared copy
    second = build_workspace(plan, 2) / "data" / "prepared" / "x.txt"
    assert shared.stat().st_ino == inode == second.stat().st_ino  # one copy for every seed
    with first.open("a") as handle:
        handle.write("+scribbled")  # through a workspace's link: the shared copy changed
    build_workspace(plan, 1)
    assert shared.stat().st_ino != inode and shared.read_text() == "data"  # copied again
    assert first.read_text() == "data"
    assert (project / "data" / "prepared" / "x.txt").read_text() == "data"
    newer = replace(
        plan, replicated=Replicated(("train",), {**hashes, "data/prepared": "c"}, {}, {}, {})
    )
    inode = shared.stat().st_ino
    build_workspace(newer, 1)  # the project's upstream output changed (a new dvc.lock hash)
    assert shared.stat().st_ino != inode
