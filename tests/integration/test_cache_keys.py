"""Cache keys: a stage re-runs (with everything downstream) when its environment lock, code or
params change, and only then; a change to another stage's code leaves it alone. Lineage
records follow the outputs, also when DVC restores a stage from its run-cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pedigree.lineage import store
from tests.integration.conftest import (
    ALL_STAGES,
    make_demo_project,
    pedigree,
    run_outcomes,
    set_params,
)

pytestmark = pytest.mark.integration

MODEL_STAGES = ("train", "calibrate", "evaluate", "release")


def _touch(path: Path) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n# changed\n")


def _plan(root: Path) -> dict[str, str]:
    return run_outcomes(root, "--dry-run")


def _runs(plan: dict[str, str]) -> set[str]:
    return {stage for stage, outcome in plan.items() if outcome == "would-run"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # the stage's environment lock: train and everything after it
        (lambda r: _touch(r / "images" / "train" / "requirements.lock"), set(MODEL_STAGES)),
        # the stage's code
        (lambda r: _touch(r / "stages" / "tune" / "__main__.py"), {"tune", *MODEL_STAGES}),
        # the stage's params
        (lambda r: set_params(r, {"calibrate": {"bins": 7}}), {"calibrate", "evaluate", "release"}),
        # another stage's code: calibrate's change re-runs nothing upstream of it
        (
            lambda r: _touch(r / "stages" / "calibrate" / "temperature.py"),
            {"calibrate", "evaluate", "release"},
        ),
        # code shared by every stage re-runs every stage that uses it
        (lambda r: _touch(r / "stages" / "common" / "metrics.py"), set(ALL_STAGES)),
    ],
    ids=["environment-lock", "code", "params", "unrelated-code", "shared-code"],
)
def test_what_re_runs_after_a_change(ran_project: Path, change, expected: set[str]) -> None:
    assert _runs(_plan(ran_project)) == set()
    change(ran_project)
    assert _runs(_plan(ran_project)) == expected


def test_real_runs_and_run_cache_restores_keep_records_current(tmp_path: Path) -> None:
    root = make_demo_project(tmp_path / "demo")
    first = store.read_current(root, "steady")
    assert first is not None
    # Only the changed stage's downstream re-runs: noisy's code leaves steady alone.
    _touch(root / "stages" / "noisy" / "__main__.py")
    assert run_outcomes(root) == {"steady": "skipped", "noisy": "ran"}
    assert store.read_current(root, "steady") == first
    # A params change re-runs steady; changing it back restores the first outputs from
    # DVC's run-cache, and with them the record of the run that made them.
    set_params(root, {"steady": {"factor": 3}})
    assert run_outcomes(root)["steady"] == "ran"
    assert store.read_current(root, "steady").run_id != first.run_id
    set_params(root, {"steady": {"factor": 2}})
    result = pedigree(root, "run", "--json")
    outcomes = {s["stage"]: s["outcome"] for s in json.loads(result.stdout)["stages"]}
    assert outcomes["steady"] == "restored"
    done = json.loads(result.stdout)  # the time table's figures: the stages', then the wall's
    assert done["seconds"] == pytest.approx(sum(s["seconds"] for s in done["stages"]), abs=0.01)
    assert done["wall_seconds"] >= done["seconds"] > 0
    assert store.read_current(root, "steady") == first
    assert "lineage" in json.loads(result.stdout)["git_add"].split()
    audit = pedigree(root, "audit", "--check", "lineage-records", check=False)
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_a_restore_without_a_kept_record_is_flagged(tmp_path: Path) -> None:
    root = make_demo_project(tmp_path / "demo")
    set_params(root, {"steady": {"factor": 3}})
    run_outcomes(root)
    set_params(root, {"steady": {"factor": 2}})
    shutil.rmtree(root / ".pedigree" / "lineage" / "runs")  # a fresh clone keeps no history
    result = pedigree(root, "run")
    assert (
        "stage 'steady' was restored from DVC's run-cache, but no lineage record"
        in result.stdout + result.stderr
    )
    # it ends with where the time went
    table = [line.split() for line in result.stdout.splitlines()[-6:]]
    assert table[0] == ["stage", "outcome", "seconds", "share"]
    assert table[1][:4] == ["steady", "restored", "from", "run-cache"]
    assert table[2][0] == "noisy"
    assert table[3][0] == "stages" and table[3][-1] == "100%"
    assert table[4][:5] == ["wall", "(with", "pedigree", "and", "DVC)"]
    assert " ".join(table[5]).startswith("done: ran 2 of 2 stages in ")
    audit = pedigree(root, "audit", "--check", "lineage-records", check=False)
    assert audit.returncode == 1 and "FAIL lineage-records" in audit.stdout
