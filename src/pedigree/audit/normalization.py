"""Check (c): the normalisation statistics come from the training split only.

stats.json must say it was computed on the train split (`spec.data.splits.train`), count exactly
that split's samples (`count_samples`; image statistics, as pets writes them: `count_images`,
and `count_pixels` = count_images x image_size), and carry `samples_sha256`, the sha256 of the
sorted ids it was computed on (`pedigree.splitrecords.samples_digest`), which must equal the
same digest recomputed here from the train split's ids in provenance.jsonl. The digest proves
the exact sample set without reading a single sample.
"""

from __future__ import annotations

from typing import Any

from pedigree.audit.layout import SplitLayout
from pedigree.audit.model import CheckResult, Finding, result
from pedigree.audit.prepared import Prepared
from pedigree.splitrecords import COUNT_KEY, DIGEST_KEY, samples_digest

NAME = "normalization"
__all__ = ["DIGEST_KEY", "check_normalization", "samples_digest", "stats_findings"]
# Keys that make stats.json image statistics (what the pets pipeline writes).
IMAGE_KEYS = ("count_images", "count_pixels", "image_size")


def _counted(stats: dict[str, Any]) -> tuple[str, str]:
    """(the key stats.json counts its samples under, what they are called in messages)."""
    if any(key in stats for key in IMAGE_KEYS):
        return "count_images", "images"
    return COUNT_KEY, "samples"


def _count_pixels(stats: dict[str, Any]) -> int | None:
    size = stats.get("image_size")
    images = stats.get("count_images")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        return None
    return images * size[0] * size[1] if isinstance(images, int) else None


def stats_findings(stats: dict[str, Any], prepared: Prepared, layout: SplitLayout) -> list[Finding]:
    """Everything about `stats` that contradicts the train split."""
    where, train_split, fix = layout.stats_path, layout.train, layout.rerun
    findings = []
    split = stats.get("split")
    if split != train_split:
        findings.append(
            Finding(
                f"{layout.files.stats} says it was computed on the '{split}' split, "
                f"not '{train_split}'",
                where,
                fix,
            )
        )
    train = prepared.samples_of(train_split)
    key, noun = _counted(stats)
    if stats.get(key) != len(train):
        findings.append(
            Finding(
                f"{layout.files.stats} counts {stats.get(key)} {noun} but the "
                f"{train_split} split "
                f"holds {len(train)} ({layout.provenance_path})",
                where,
                fix,
            )
        )
    expected_pixels = _count_pixels(stats)
    if noun == "images" and (
        expected_pixels is None or stats.get("count_pixels") != expected_pixels
    ):
        findings.append(
            Finding(
                f"{layout.files.stats} counts {stats.get('count_pixels')} pixels, which is not "
                f"count_images x image_size ({expected_pixels})",
                where,
                fix,
            )
        )
    recorded = stats.get(DIGEST_KEY)
    if recorded is None:
        findings.append(
            Finding(
                f"{layout.files.stats} does not record which samples it was computed on "
                f"({DIGEST_KEY})",
                where,
                f"re-run {layout.producer} with the current stage code "
                f"(`pedigree run --stage {layout.producer} --force`), which records it",
            )
        )
    elif recorded != samples_digest(s.id for s in train):
        others = [
            name
            for name in layout.splits
            if recorded == samples_digest(s.id for s in prepared.samples_of(name))
        ]
        which = f": they are the {others[0]} split's" if others else ""
        findings.append(
            Finding(
                f"{layout.files.stats} was computed on other samples than the "
                f"{train_split} split's "
                f"({DIGEST_KEY} {str(recorded)[:12]}... differs){which}",
                where,
                fix,
            )
        )
    return findings


def check_normalization(layout: SplitLayout, prepared: Prepared) -> CheckResult:
    """Run check (c) on what `load_prepared` read."""
    findings = list(prepared.stats_problems)
    if not prepared.samples:
        findings.append(
            Finding(
                f"no {layout.train} samples to compare {layout.files.stats} with "
                f"({layout.files.provenance} is missing, empty or unreadable)",
                layout.provenance_path,
                layout.rerun,
            )
        )
    elif prepared.stats is not None:
        findings += stats_findings(prepared.stats, prepared, layout)
    count = len(prepared.samples_of(layout.train))
    noun = _counted(prepared.stats or {})[1]
    passed = (
        f"{layout.files.stats} was computed on exactly the {count} {layout.train} {noun} "
        f"({DIGEST_KEY} matches)"
    )
    return result(NAME, passed, "normalization statistics are not train-only", findings)
