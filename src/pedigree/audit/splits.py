"""Check (b), split leakage: no group (`spec.data.splits.groupKey`) and no identical content in
two splits.

Read from the prepared data itself, not from one summary: per-sample provenance.jsonl (the group
and the sha256 of the source content of every sample: an image's bytes, a row's text),
splits.json (groups and samples per split) and every split's index.json (sample counts and
shards). Leakage is looked for in each record, and the records are cross-checked, so a
hand-edited or stale file cannot hide a leak.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pedigree.audit.layout import SplitLayout
from pedigree.audit.model import CheckResult, Finding, listing, result
from pedigree.audit.prepared import Prepared, Sample, content_of

NAME = "split-leakage"
SHA_SHOWN = 12
# splits.json's lists per split, by role: the generic key first, then the pets (image) one.
LISTED = {"groups": ("groups", "animals"), "samples": ("samples", "images")}


def group_label(layout: SplitLayout) -> str:
    """The group key as words: animal_id -> 'animal id'."""
    return layout.group_key.replace("_", " ")


def group_fix(layout: SplitLayout) -> str:
    """How to fix a group (or sample) found in two splits."""
    return (
        f"{layout.producer} must put every {layout.group_key} in one split: restore the split "
        f"data with `dvc checkout` or re-run {layout.producer} "
        f"(`pedigree run --stage {layout.producer} --force`)"
    )


def image_fix(layout: SplitLayout, content: str = "image") -> str:
    """How to fix one content (an image, a sample) found in two splits."""
    return (
        f"the source holds the same {content} more than once, under different {layout.group_key} "
        f"values: remove the duplicates (or give them one {layout.group_key}) in the source, "
        f"then re-run {layout.producer} and the stages before it"
    )


def spread(pairs: Iterable[tuple[str, str, str]]) -> dict[str, dict[str, list[str]]]:
    """(key, split, label) triples -> key -> split -> labels, for keys seen in 2+ splits."""
    seen: dict[str, dict[str, list[str]]] = {}
    for key, split, label in pairs:
        seen.setdefault(key, {}).setdefault(split, []).append(label)
    return {k: v for k, v in sorted(seen.items()) if len(v) > 1}


def _describe(found: dict[str, dict[str, list[str]]], show_labels: bool, width: int = 0) -> str:
    items = []
    for key, splits in found.items():
        shown = key[:width] + "..." if width else key
        if show_labels:
            parts = "; ".join(f"{split}: {listing(labels, 3)}" for split, labels in splits.items())
        else:
            parts = ", ".join(splits)
        items.append(f"'{shown}' ({parts})")
    return listing(items)


def leak_findings(samples: list[Sample], where: str, layout: SplitLayout) -> list[Finding]:
    """Groups, contents (images, rows) and sample ids that appear in more than one split."""
    findings = []
    fix = group_fix(layout)
    animals = spread((s.group, s.split, s.id) for s in samples)
    if animals:
        findings.append(
            Finding(
                f"{len(animals)} {group_label(layout)}(s) in more than one split: "
                + _describe(animals, True),
                where,
                fix,
            )
        )
    images = spread((s.sha256, s.split, s.id) for s in samples)
    if images:
        content = content_of(samples)
        hashed = "the image bytes" if content == "image" else "the source content"
        findings.append(
            Finding(
                f"{len(images)} identical {content}(s) (same sha256 of {hashed}) in more "
                "than one split: " + _describe(images, True, SHA_SHOWN),
                where,
                image_fix(layout, content),
            )
        )
    ids = spread((s.id, s.split, f"line {s.line}") for s in samples)
    if ids:
        findings.append(
            Finding(
                f"{len(ids)} sample id(s) in more than one split: " + _describe(ids, True),
                where,
                fix,
            )
        )
    return findings


def _names(part: Any, key: str) -> list[str]:
    values = part.get(key) if isinstance(part, dict) else None
    return [str(v) for v in values] if isinstance(values, list) else []


def listed_key(doc: dict[str, Any] | None, role: str, content: str = "sample") -> str:
    """The key splits.json lists `role` ('groups' or 'samples') under: the one it uses, else
    the pets name for image data ('animals', 'images') or the generic one."""
    generic, image = LISTED[role]
    parts = (doc or {}).get("splits")
    for part in parts.values() if isinstance(parts, dict) else ():
        for key in (generic, image):
            if isinstance(part, dict) and key in part:
                return key
    return image if content == "image" else generic


def summary_findings(doc: dict[str, Any], where: str, layout: SplitLayout) -> list[Finding]:
    """Leaks that splits.json itself shows (a group or sample id listed in two splits)."""
    splits = doc.get("splits", {})
    findings = []
    groups, samples = listed_key(doc, "groups"), listed_key(doc, "samples")
    noun = "image id" if samples == "images" else "sample id"
    for key, what in ((groups, group_label(layout)), (samples, noun)):
        found = spread(
            (name, split, key) for split in splits for name in _names(splits[split], key)
        )
        if found:
            findings.append(
                Finding(
                    f"{len(found)} {what}(s) listed in more than one split: "
                    + _describe(found, False),
                    where,
                    group_fix(layout),
                )
            )
    return findings


def _difference(name_a: str, a: set[str], name_b: str, b: set[str]) -> str:
    parts = []
    if a - b:
        parts.append(f"only in {name_a}: {listing(sorted(a - b))}")
    if b - a:
        parts.append(f"only in {name_b}: {listing(sorted(b - a))}")
    return "; ".join(parts)


def cross_findings(root: Path, prepared: Prepared, layout: SplitLayout) -> list[Finding]:
    """Where provenance.jsonl, splits.json and the index files disagree about a split."""
    findings = []
    prov, fix = layout.provenance_path, layout.rerun
    unknown = sorted({s.split for s in prepared.samples} - set(layout.splits))
    if unknown:
        findings.append(
            Finding(
                f"samples in unknown split(s) {listing(unknown)} (splits: "
                f"{', '.join(layout.splits)})",
                prov,
                fix,
            )
        )
    summary = prepared.splits_doc.get("splits", {}) if prepared.splits_doc else None
    groups = listed_key(prepared.splits_doc, "groups", prepared.content)
    samples = listed_key(prepared.splits_doc, "samples", prepared.content)
    for split in layout.splits:
        rows = prepared.samples_of(split)
        ids = {s.id for s in rows}
        if summary is not None:
            part = summary.get(split)
            if part is None:
                findings.append(Finding(f"no entry for split '{split}'", layout.splits_file, fix))
            else:
                for key, mine in ((samples, ids), (groups, {s.group for s in rows})):
                    diff = _difference(prov, mine, layout.splits_file, set(_names(part, key)))
                    if diff:
                        findings.append(
                            Finding(f"{split} {key} disagree: {diff}", layout.splits_file, fix)
                        )
        index = prepared.indexes.get(split)
        if index is not None:
            findings += _index_findings(root, split, index, rows, layout)
    return findings


def _index_findings(
    root: Path, split: str, index: dict[str, Any], rows: list[Sample], layout: SplitLayout
) -> list[Finding]:
    rel = layout.index_path(split)
    findings = []
    fix = layout.rerun
    shards = [s for s in index.get("shards") or [] if isinstance(s, dict)]
    files = [f"{split}/{s.get('file')}" for s in shards]
    if index.get("split") != split:
        findings.append(Finding(f"{rel} says split '{index.get('split')}'", rel, fix))
    if index.get("count") != len(rows):
        findings.append(
            Finding(
                f"{rel} counts {index.get('count')} samples but {layout.provenance_path} "
                f"lists {len(rows)} in {split}",
                rel,
                fix,
            )
        )
    missing = [f for f in files if not (root / layout.prepared / f).is_file()]
    if missing:
        findings.append(Finding(f"shard(s) listed but missing: {listing(missing)}", rel, fix))
    stray = sorted({s.shard for s in rows} - set(files))
    if stray:
        findings.append(
            Finding(
                f"{layout.provenance_path} places {split} samples in shard(s) {rel} does not "
                f"list: {listing(stray)}",
                rel,
                fix,
            )
        )
    return findings


def check_splits(root: Path, layout: SplitLayout, prepared: Prepared) -> CheckResult:
    """Run check (b) on what `load_prepared` read."""
    findings = list(prepared.problems)
    findings += leak_findings(list(prepared.samples), layout.provenance_path, layout)
    if prepared.splits_doc is not None:
        findings += summary_findings(prepared.splits_doc, layout.splits_file, layout)
    findings += cross_findings(root, prepared, layout)
    counts = ", ".join(f"{s} {len(prepared.samples_of(s))}" for s in layout.splits)
    animals = len({s.group for s in prepared.samples})
    passed = (
        f"no {group_label(layout)} and no {prepared.content} content in two splits "
        f"({len(prepared.samples)} samples, {animals} {group_label(layout)}s: {counts}; "
        f"provenance, {layout.files.splits} and index files agree)"
    )
    return result(NAME, passed, "data leaks between splits", findings)
