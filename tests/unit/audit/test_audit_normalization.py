"""Check (c): stats.json must be computed on exactly the train split."""

from __future__ import annotations

from pathlib import Path

import pytest

from pedigree.audit.model import CheckResult
from pedigree.audit.normalization import check_normalization, samples_digest
from pedigree.audit.prepared import load_prepared
from stages.transform.stats import samples_digest as transform_digest
from tests.unit.audit.conftest import LAYOUT, digest, rewrite_json, write_prepared

STATS = "data/prepared/stats.json"


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    write_prepared(tmp_path / "data" / "prepared")
    return tmp_path


def normalization(root: Path) -> CheckResult:
    return check_normalization(LAYOUT, load_prepared(root, LAYOUT))


def messages(result: CheckResult) -> list[str]:
    return [f.message for f in result.findings]


def test_the_digest_is_the_one_transform_writes() -> None:
    ids = ["b", "a", "Bombay_10", "Bombay_2"]
    assert samples_digest(ids) == transform_digest(ids) == digest(ids)


def test_train_only_statistics_pass(prepared: Path) -> None:
    result = normalization(prepared)
    assert result.ok, messages(result)
    assert result.summary == (
        "stats.json was computed on exactly the 3 train images (samples_sha256 matches)"
    )


def test_statistics_from_another_split_are_caught(prepared: Path) -> None:
    validation = ["dog_2", "dog_3"]
    rewrite_json(
        prepared / STATS,
        lambda d: d.update(
            split="validation", count_images=2, count_pixels=32, samples_sha256=digest(validation)
        ),
    )
    result = normalization(prepared)
    assert messages(result) == [
        "stats.json says it was computed on the 'validation' split, not 'train'",
        "stats.json counts 2 images but the train split holds 3 (data/prepared/provenance.jsonl)",
        f"stats.json was computed on other samples than the train split's (samples_sha256 "
        f"{digest(validation)[:12]}... differs): they are the validation split's",
    ]
    assert all(f.where == STATS for f in result.findings)
    assert "re-run transform" in result.findings[0].fix


def test_a_train_label_on_other_samples_is_caught_by_the_digest(prepared: Path) -> None:
    # Right label, right count, wrong samples: one train image swapped for a test image.
    rewrite_json(
        prepared / STATS, lambda d: d.update(samples_sha256=digest(["cat_1", "cat_2", "dog_4"]))
    )
    (message,) = messages(normalization(prepared))
    assert message.startswith("stats.json was computed on other samples than the train split's")
    assert message.endswith("differs)")


def test_pixel_count_must_match_the_image_count(prepared: Path) -> None:
    rewrite_json(prepared / STATS, lambda d: d.update(count_pixels=47))
    assert messages(normalization(prepared)) == [
        "stats.json counts 47 pixels, which is not count_images x image_size (48)"
    ]


def test_statistics_without_a_digest_cannot_prove_their_origin(prepared: Path) -> None:
    rewrite_json(prepared / STATS, lambda d: d.pop("samples_sha256"))
    (finding,) = normalization(prepared).findings
    assert finding.message == (
        "stats.json does not record which samples it was computed on (samples_sha256)"
    )
    assert "pedigree run --stage transform --force" in finding.fix


def test_missing_stats_or_provenance_fail(prepared: Path) -> None:
    (prepared / STATS).unlink()
    assert messages(normalization(prepared)) == [f"{STATS} is missing"]
    (prepared / "data" / "prepared" / "provenance.jsonl").unlink()
    assert "no train samples to compare stats.json with" in messages(normalization(prepared))[-1]
