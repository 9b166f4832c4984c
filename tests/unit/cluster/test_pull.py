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
