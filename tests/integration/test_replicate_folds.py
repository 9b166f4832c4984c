"""`pedigree replicate --folds` on a real (tiny) project: bad input is refused and leaves nothing.

What a fold replicate of pets computes (grouped nested K-fold, the summary with its intervals,
the label audit over the out-of-fold predictions, reuse, `pedigree audit`'s folds and labels
checks, a planted leak) is tested on the runs test_cluster_replicate.py's workflow brings home:
the same runs, made by the same code, computed once. test_tabular_example.py runs folds locally."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import BIN, sh

pytestmark = pytest.mark.integration

SUMMARY = Path("replicates") / "summary.json"


def test_folds_refuse_bad_input_and_leave_nothing(ran_project: Path) -> None:
    root = ran_project
    before = (root / SUMMARY).read_bytes()
    for args, message in (
        (("--folds", "1"), "--folds: '1' is not a number of folds"),
        (("--folds", "99"), "--folds: '99' is not a number of folds"),
        (("--folds", "3", "--set", "train.nope=2"), "--set: params.yaml has no key train.nope"),
        (("--folds", "3", "--set", "determinism.seed=2"), "is set by replicate itself"),
        (("--folds", "3", "--jobs", "0"), "--jobs: 0 is not a number of parallel runs"),
        (("--folds", "40"), "the largest k possible is"),
    ):
        failed = sh(root, str(BIN / "pedigree"), "replicate", *args, check=False)
        assert failed.returncode == 2, (args, failed.stdout, failed.stderr)
        assert message in failed.stderr, (args, failed.stderr)
    assert (root / SUMMARY).read_bytes() == before
