"""Pure parts of `pedigree pull`: which stages can be pulled, and the run's one commit."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from pedigree.cluster.pull import PullError, pullable, run_commit
from pedigree.cluster.records import RemoteRecord, check_run_name
from pedigree.errors import PedigreeError
from pedigree.spec.checks import load_spec

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_pets_is_pulled_whole_release_included() -> None:
    # The registry is files in git: release is restored like any stage, its events come home.
    spec = load_spec(REPO_ROOT / "pipelines" / "pets.yaml")
    restore, left_out = pullable(spec)
    assert left_out == []
    assert restore[-1] == "release" and len(restore) == 7


def test_stateful_stages_and_their_downstream_are_not_pulled(tmp_path: Path) -> None:
    path = tmp_path / "kept.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            apiVersion: pedigree/v1
            kind: Pipeline
            metadata: {name: kept}
            spec:
              stages:
                - {name: a, cmd: [python, -m, stages.a], outs: [data/a]}
                - name: b
                  cmd: [python, -m, stages.b]
                  deps: [data/a]
                  outs: [data/b]
                  stateful: true
                  state: [.pedigree/b]
                - {name: c, cmd: [python, -m, stages.c], deps: [data/b], outs: [data/c]}
                - {name: d, cmd: [python, -m, stages.d], deps: [data/a], outs: [data/d]}
            """
        ),
        encoding="utf-8",
    )
    restore, left_out = pullable(load_spec(path))
    assert restore == ["a", "d"]
    assert left_out == ["b", "c"]


def _record(commit: str | None) -> str:
    path = REPO_ROOT / "lineage" / "ingest.json"
    data = json.loads(path.read_text())
    data["code"]["git_commit"] = commit
    return json.dumps(data)


def test_the_run_commit_is_the_one_its_records_name() -> None:
    records = [
        RemoteRecord("pets-a1", "ingest", "1.json"),
        RemoteRecord("pets-a1", "train", "2.json"),
    ]
    assert run_commit(records, lambda r: _record("c" * 40)) == "c" * 40


def test_records_naming_two_commits_are_refused() -> None:
    records = [
        RemoteRecord("pets-a1", "ingest", "1.json"),
        RemoteRecord("pets-a1", "train", "2.json"),
    ]
    texts = {"1.json": _record("a" * 40), "2.json": _record("b" * 40)}
    with pytest.raises(PullError, match=r"name 2 git commits"):
        run_commit(records, lambda r: texts[r.name])


@pytest.mark.parametrize("name", ["../etc", "Pets-A", "", "a/b", "-x"])
def test_run_names_that_are_not_workflow_names(name: str) -> None:
    with pytest.raises(PedigreeError, match=r"is not a run name"):
        check_run_name(name)


def _stage_record(run_id: str, md5: str, status: str = "succeeded", ended: str = "") -> str:
    data = json.loads((REPO_ROOT / "lineage" / "ingest.json").read_text())
    data["run_id"], data["status"] = run_id, status
    data["ended"] = ended or data["ended"]
    for out in data["outputs"]:
        out["md5"] = md5
    return json.dumps(data)


def test_the_pulled_runs_own_record_becomes_current_over_an_identical_local_one(
    tmp_path: Path,
) -> None:
    from pedigree.cluster.pull import adopt_run_records, run_records
    from pedigree.executors.dvc import StageResult
    from pedigree.lineage.store import current_path, parse_record

    out = json.loads(_stage_record("x", "a" * 32))["outputs"][0]["path"]
    (tmp_path / "dvc.lock").write_text(
        f"schema: '2.0'\nstages:\n  ingest:\n    cmd: x\n    outs:\n    - path: {out}\n"
        f"      md5: {'a' * 32}.dir\n"
    )
    current = current_path(tmp_path, "ingest")
    current.parent.mkdir(parents=True)
    current.write_text(_stage_record("local-run", "a" * 32 + ".dir"))
    texts = {
        "1.json": _stage_record("failed-try", "a" * 32 + ".dir", "failed", "2026-12-03T02:00:00Z"),
        "2.json": _stage_record("cluster-run", "a" * 32 + ".dir", ended="2026-12-03T01:00:00Z"),
    }
    remote = [RemoteRecord("pets-x", "ingest", name) for name in texts]
    own = run_records(remote, lambda r: texts[r.name])
    assert own["ingest"].run_id == "cluster-run"  # the newest *succeeded* one
    adopt_run_records(tmp_path, (StageResult("ingest", "restored", 0.1),), own)
    assert parse_record(current.read_text(), "current").run_id == "cluster-run"
    # a record that does not describe the restored outputs is never made current
    other = run_records(remote[1:], lambda r: _stage_record("stale", "b" * 32 + ".dir"))
    adopt_run_records(tmp_path, (StageResult("ingest", "restored", 0.1),), other)
    assert parse_record(current.read_text(), "current").run_id == "cluster-run"
