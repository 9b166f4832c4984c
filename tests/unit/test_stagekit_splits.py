"""stagekit.write_split_records: the split records, round-tripped through the audit's readers.

A row-based data set (one CSV per split, a `customer_id` group) written with the helper must
pass the split-leakage and normalization checks with generic wording; a planted leak must be
caught; inconsistent samples are refused before anything is written.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pedigree.audit.layout import SplitLayout
from pedigree.audit.normalization import check_normalization
from pedigree.audit.prepared import load_prepared
from pedigree.audit.splits import check_splits
from pedigree.stagekit import SplitRecordsError, SplitSample, samples_digest, write_split_records

SPLITS = ("train", "test")
LAYOUT = SplitLayout("split", "data/splits", SPLITS, ("data/raw",), group_key="customer_id")
# (row id, customer, split): customers c1 and c2 train, c3 test.
ROWS = (("r1", "c1", "train"), ("r2", "c1", "train"), ("r3", "c2", "train"), ("r4", "c3", "test"))


def sample(row: str, customer: str, split: str, content: str | None = None) -> SplitSample:
    sha = hashlib.sha256((content or f"row {row}").encode()).hexdigest()
    return SplitSample(row, customer, split, sha, "rows.csv", {"row": int(row[1:])})


def write(root: Path, rows: tuple[tuple[str, str, str], ...] = ROWS, **content: str) -> Path:
    """The rows' CSV files and records under root/data/splits; returns that folder."""
    out = root / "data" / "splits"
    for split in SPLITS:
        (out / split).mkdir(parents=True, exist_ok=True)
        lines = [f"{r},{c}\n" for r, c, s in rows if s == split]
        (out / split / "rows.csv").write_text("id,customer_id\n" + "".join(lines))
    samples = [sample(r, c, s, content.get(r)) for r, c, s in rows]
    write_split_records(out, samples, splits=SPLITS, group_key="customer_id", stats={"mean": [1.5]})
    return out


def test_records_pass_the_audit_with_generic_wording(tmp_path: Path) -> None:
    out = write(tmp_path)
    prepared = load_prepared(tmp_path, LAYOUT)
    assert prepared.problems == () and prepared.content == "sample"
    leakage = check_splits(tmp_path, LAYOUT, prepared)
    assert leakage.ok, leakage.findings
    assert leakage.summary == (
        "no customer id and no sample content in two splits (4 samples, 3 customer ids: "
        "train 3, test 1; provenance, splits.json and index files agree)"
    )
    normalization = check_normalization(LAYOUT, prepared)
    assert normalization.ok, normalization.findings
    assert normalization.summary == (
        "stats.json was computed on exactly the 3 train samples (samples_sha256 matches)"
    )
    stats = json.loads((out / "stats.json").read_text())
    assert stats == {
        "count_samples": 3,
        "mean": [1.5],
        "samples_sha256": samples_digest(["r1", "r2", "r3"]),
        "split": "train",
    }
    line = json.loads((out / "provenance.jsonl").read_text().splitlines()[3])
    assert line == {
        "customer_id": "c3",
        "id": "r4",
        "row": 4,
        "shard": "test/rows.csv",
        "source": {"sha256": hashlib.sha256(b"row r4").hexdigest()},
        "split": "test",
    }
    index = json.loads((out / "test" / "index.json").read_text())
    csv_sha = hashlib.sha256((out / "test" / "rows.csv").read_bytes()).hexdigest()
    assert index == {
        "split": "test",
        "count": 1,
        "shards": [{"file": "rows.csv", "count": 1, "sha256": csv_sha}],
    }
    splits = json.loads((out / "splits.json").read_text())["splits"]
    assert splits["train"] == {"groups": ["c1", "c2"], "samples": ["r1", "r2", "r3"], "count": 3}


def test_the_same_samples_give_the_same_bytes(tmp_path: Path) -> None:
    first, second = write(tmp_path / "a"), write(tmp_path / "b")
    for rel in ("provenance.jsonl", "splits.json", "stats.json", "train/index.json"):
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel


def test_a_customer_in_two_splits_is_caught(tmp_path: Path) -> None:
    write(tmp_path, (*ROWS, ("r5", "c1", "test")))
    result = check_splits(tmp_path, LAYOUT, load_prepared(tmp_path, LAYOUT))
    assert [f.message for f in result.findings] == [
        "1 customer id(s) in more than one split: 'c1' (train: r1, r2; test: r5)",
        "1 customer id(s) listed in more than one split: 'c1' (test, train)",
    ]
    assert "split must put every customer_id in one split" in result.findings[0].fix


def test_identical_rows_under_two_customers_are_caught(tmp_path: Path) -> None:
    write(tmp_path, r4="row r1")  # the test row repeats a train row's content
    (finding,) = check_splits(tmp_path, LAYOUT, load_prepared(tmp_path, LAYOUT)).findings
    digest = hashlib.sha256(b"row r1").hexdigest()[:12]
    assert finding.message == (
        "1 identical sample(s) (same sha256 of the source content) in more than one split: "
        f"'{digest}...' (train: r1; test: r4)"
    )
    assert finding.fix.startswith("the source holds the same sample more than once")


def test_a_sample_list_edited_in_splits_json_disagrees_with_provenance(tmp_path: Path) -> None:
    out = write(tmp_path)
    doc = json.loads((out / "splits.json").read_text())
    doc["splits"]["test"]["samples"].append("r1")
    (out / "splits.json").write_text(json.dumps(doc))
    result = check_splits(tmp_path, LAYOUT, load_prepared(tmp_path, LAYOUT))
    assert [f.message for f in result.findings] == [
        "1 sample id(s) listed in more than one split: 'r1' (test, train)",
        "test samples disagree: only in data/splits/splits.json: r1",
    ]


def test_stats_counting_other_samples_fail(tmp_path: Path) -> None:
    out = write(tmp_path)
    stats = json.loads((out / "stats.json").read_text())
    stats["count_samples"] = 4
    (out / "stats.json").write_text(json.dumps(stats))
    (finding,) = check_normalization(LAYOUT, load_prepared(tmp_path, LAYOUT)).findings
    assert finding.message == (
        "stats.json counts 4 samples but the train split holds 3 (data/splits/provenance.jsonl)"
    )


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ((*ROWS, ("r5", "c4", "valid")), "sample 'r5' is in split 'valid', not one of"),
        ((*ROWS, ("r1", "c4", "test")), "sample id 'r1' appears twice"),
        ((("r4", "c3", "test"),), "the train split 'train' holds no sample"),
    ],
)
def test_inconsistent_samples_are_refused_before_writing(
    tmp_path: Path, rows: tuple[tuple[str, str, str], ...], message: str
) -> None:
    with pytest.raises(SplitRecordsError, match=message):
        write(tmp_path, rows)
    assert not (tmp_path / "data" / "splits" / "provenance.jsonl").exists()


def test_a_shard_that_was_not_written_is_refused(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    lost = SplitSample("r1", "c1", "train", "0" * 64, "missing.csv")
    with pytest.raises(SplitRecordsError, match=r"shard train/missing.csv is not a file"):
        write_split_records(tmp_path, [lost], splits=SPLITS, group_key="customer_id", stats={})


def test_extra_fields_cannot_hide_the_records_own(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "rows.csv").write_text("x\n")
    bad = SplitSample("r1", "c1", "train", "0" * 64, "rows.csv", {"split": "test"})
    with pytest.raises(SplitRecordsError, match=r"extra fields \['split'\] are set by the records"):
        write_split_records(tmp_path, [bad], splits=SPLITS, group_key="customer_id", stats={})
