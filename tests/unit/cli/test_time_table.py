"""The table `pedigree run` ends with: where the time went, stage by stage."""

from __future__ import annotations

from pedigree.cli.render import time_table
from pedigree.executors.dvc import StageResult


def test_each_stage_its_seconds_and_share_then_the_totals() -> None:
    results = [
        StageResult("ingest", "skipped", 0.4),
        StageResult("transform", "ran", 10.0),
        StageResult("train", "ran", 30.0),
        StageResult("evaluate", "restored", 0.0),
    ]
    assert time_table(results, 44.25) == [
        "stage      outcome                   seconds  share",
        "ingest     up to date, skipped           0.4     1%",
        "transform  ran                          10.0    25%",
        "train      ran                          30.0    74%",
        "evaluate   restored from run-cache       0.0     0%",
        "stages                                  40.4   100%",
        "wall       (with pedigree and DVC)      44.2",
    ]


def test_a_run_of_nothing_has_no_shares() -> None:
    lines = time_table([StageResult("ingest", "skipped", 0.0)], 0.5)
    assert lines[1] == "ingest  up to date, skipped           0.0      -"
    assert lines[-2:] == [
        "stages                                0.0      -",
        "wall    (with pedigree and DVC)       0.5",
    ]
