"""`pedigree replicate --seeds` refusals on a real (tiny) project: bad seeds, stale or changed
upstream outputs. A seed replicate end to end (the summary, reuse, an untouched workspace, the
report) is tested on the renamed pipeline (test_renamed_pipeline.py), whose spec declares which
stages replicate re-runs; folds are tested in test_cluster_replicate.py and
test_tabular_example.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import BIN, pedigree, set_params, sh

pytestmark = pytest.mark.integration

SUMMARY = Path("replicates") / "summary.json"
SCRATCH = Path(".pedigree") / "replicate"
# Two seeds of several stages each: longer than one stage on two shared cores.
REPLICATE_TIMEOUT = 1200


def replicate(root: Path, *args: str) -> str:
    """`pedigree replicate ARGS` in the project; its stdout (it must succeed)."""
    return sh(root, str(BIN / "pedigree"), "replicate", *args, timeout=REPLICATE_TIMEOUT).stdout


def test_bad_seeds_are_refused(ran_project: Path) -> None:
    cases = {
        "a,b": "error: --seeds: 'a' is not a seed (a whole number from 0 to 2147483647)",
        "": "error: --seeds is empty",
        "1,2,1": "error: --seeds: seed 1 is given twice",
    }
    for seeds, message in cases.items():
        done = pedigree(ran_project, "replicate", "--seeds", seeds, check=False)
        assert done.returncode == 2, (seeds, done.stderr)
        assert message in done.stderr and "hint: give two or more" in done.stderr, done.stderr
    assert not (ran_project / SCRATCH).exists()


def test_stale_upstream_is_refused(ran_project: Path) -> None:
    before = (ran_project / SUMMARY).read_bytes()
    set_params(ran_project, {"transform": {"shard_size": 4}})
    done = pedigree(ran_project, "replicate", "--seeds", "1,2", check=False)
    assert done.returncode == 3, done.stderr
    assert "stale upstream outputs (transform: params changed: transform.shard_size" in done.stderr
    assert "hint: run `pedigree run` first" in done.stderr
    assert (ran_project / SUMMARY).read_bytes() == before
    assert not (ran_project / SCRATCH).exists()


def test_changed_upstream_output_is_refused(ran_project: Path) -> None:
    (ran_project / "data" / "prepared" / "stray.txt").write_text("x", encoding="utf-8")
    done = pedigree(ran_project, "replicate", "--seeds", "1,2", "--json", check=False)
    assert done.returncode == 3, done.stderr
    error = json.loads(done.stdout)
    assert "transform" in error["error"] and "data/prepared" in error["error"]
    assert "pedigree run" in error["hint"]
