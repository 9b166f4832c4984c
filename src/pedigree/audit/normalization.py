"""Check (c): the normalisation statistics come from the training split only.

stats.json must say it was computed on the train split (`spec.data.splits.train`), count exactly
that split's images (and pixels), and carry `samples_sha256`, the sha256 of the sorted ids it
was computed on (one per line, see `stages.transform.stats.samples_digest`), which must equal
the same digest recomputed here from the train split's ids in provenance.jsonl. The digest
proves the exact sample set without decoding a single image.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from pedigree.audit.layout import SplitLayout
from pedigree.audit.model import CheckResult, Finding, result
from pedigree.audit.prepared import Prepared

NAME = "normalization"
DIGEST_KEY = "samples_sha256"


def samples_digest(sample_ids: Iterable[str]) -> str:
    """sha256 of the sorted ids, each followed by a newline: transform's definition."""
    text = "".join(f"{sample_id}\n" for sample_id in sorted(sample_ids))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
    if stats.get("count_images") != len(train):
        findings.append(
            Finding(
                f"{layout.files.stats} counts {stats.get('count_images')} images but the "
                f"{train_split} split "
                f"holds {len(train)} ({layout.provenance_path})",
                where,
                fix,
            )
        )
    expected_pixels = _count_pixels(stats)
    if expected_pixels is None or stats.get("count_pixels") != expected_pixels:
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
    passed = (
        f"{layout.files.stats} was computed on exactly the {count} {layout.train} images "
        f"({DIGEST_KEY} matches)"
    )
    return result(NAME, passed, "normalization statistics are not train-only", findings)
