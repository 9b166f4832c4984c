"""Reading the prepared data the way the audit needs it: JSON only, never TensorFlow.

Four records describe the splits, written by the splits stage (`spec.data.splits`; file names
from its `files`; the format is `pedigree.splitrecords`): per-sample provenance (id, group key,
split, sha256 of the source content, shard), the split assignment (groups and samples per
split), each split's index (shards and counts) and the statistics learned from the train split.
Both vocabularies are read: the generic one (`source.sha256`, `groups`/`samples`) and the image
one the pets pipeline writes (`source.image_sha256`, `animals`/`images`). They are read
independently so the checks can cross-check them; anything unreadable becomes a Finding, never
an exception.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pedigree.audit.layout import SplitLayout
from pedigree.audit.model import Finding

# What a sample's `source` sha256 hashes, by the key it is written under.
CONTENT_KEYS = (("sha256", "sample"), ("image_sha256", "image"))


@dataclass(frozen=True)
class Sample:
    """One provenance line: which sample, which group (`groupKey`), which split, which content.

    `content` says what `sha256` hashes: 'image' (the line wrote `source.image_sha256`) or
    'sample' (`source.sha256`).
    """

    line: int
    id: str
    group: str
    split: str
    sha256: str
    shard: str
    content: str = "sample"


@dataclass(frozen=True)
class Prepared:
    """Everything read from the prepared folder, with the problems met while reading it."""

    samples: tuple[Sample, ...] = ()
    splits_doc: dict[str, Any] | None = None
    indexes: dict[str, dict[str, Any]] = field(default_factory=dict)
    stats: dict[str, Any] | None = None
    problems: tuple[Finding, ...] = ()  # provenance, splits.json and index.json
    stats_problems: tuple[Finding, ...] = ()

    def samples_of(self, split: str) -> list[Sample]:
        """The provenance lines of one split."""
        return [s for s in self.samples if s.split == split]

    @property
    def content(self) -> str:
        """What the samples' sha256 hash, in words (see `content_of`)."""
        return content_of(self.samples)


def content_of(samples: Iterable[Sample]) -> str:
    """'image' when every sample's sha256 is of an image (the pets records), else 'sample'."""
    kinds = {s.content for s in samples}
    return "image" if kinds == {"image"} else "sample"


def _read_json(root: Path, rel: str, fix: str) -> tuple[Any, Finding | None]:
    path = root / rel
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, Finding(f"{rel} is missing", rel, fix)
    except (OSError, UnicodeDecodeError) as exc:
        return None, Finding(f"{rel} cannot be read ({exc})", rel, fix)
    except json.JSONDecodeError as exc:
        return None, Finding(f"{rel} is not valid JSON (line {exc.lineno}: {exc.msg})", rel, fix)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _sample(data: Any, line: int, group_key: str) -> Sample | str:
    if not isinstance(data, dict):
        return "not a JSON object"
    source: dict[str, Any] = data["source"] if isinstance(data.get("source"), dict) else {}
    content, sha256 = next(
        ((kind, _text(source.get(key))) for key, kind in CONTENT_KEYS if key in source),
        ("sample", None),
    )
    fields = {
        "id": _text(data.get("id")),
        group_key: _text(data.get(group_key)),
        "split": _text(data.get("split")),
        "source.sha256 (or source.image_sha256)": sha256,
        "shard": _text(data.get("shard")),
    }
    missing = [k for k, v in fields.items() if v is None]
    if missing:
        return f"missing or empty {', '.join(missing)}"
    sample_id, group, split, sha, shard = (str(v) for v in fields.values())
    return Sample(line, sample_id, group, split, sha, shard, content=content)


def read_provenance(
    root: Path, rel: str, group_key: str, fix: str
) -> tuple[list[Sample], list[Finding]]:
    """Every valid provenance line, and a Finding per invalid one (or for a missing file)."""
    path = root / rel
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], [Finding(f"{rel} is missing", rel, fix)]
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Finding(f"{rel} cannot be read ({exc})", rel, fix)]
    samples: list[Sample] = []
    problems: list[Finding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            parsed = _sample(json.loads(line), number, group_key)
        except json.JSONDecodeError as exc:
            parsed = f"not valid JSON ({exc.msg})"
        if isinstance(parsed, str):
            problems.append(Finding(f"line {number}: {parsed}", f"{rel}:{number}", fix))
        else:
            samples.append(parsed)
    return samples, problems


def load_prepared(root: Path, layout: SplitLayout) -> Prepared:
    """Read provenance, splits.json, every split's index.json and stats.json."""
    fix = layout.rerun
    samples, problems = read_provenance(root, layout.provenance_path, layout.group_key, fix)
    splits_doc, problem = _read_json(root, layout.splits_file, fix)
    if problem:
        problems.append(problem)
    elif not isinstance(splits_doc, dict) or not isinstance(splits_doc.get("splits"), dict):
        rel = layout.splits_file
        problems.append(Finding(f"{rel} has no 'splits' mapping", rel, fix))
        splits_doc = None
    indexes: dict[str, dict[str, Any]] = {}
    for split in layout.splits:
        rel = layout.index_path(split)
        index, problem = _read_json(root, rel, fix)
        if problem:
            problems.append(problem)
        elif isinstance(index, dict):
            indexes[split] = index
        else:
            problems.append(Finding(f"{rel} is not a JSON object", rel, fix))
    stats, problem = _read_json(root, layout.stats_path, fix)
    stats_problems = [problem] if problem else []
    if problem is None and not isinstance(stats, dict):
        rel = layout.stats_path
        stats_problems.append(Finding(f"{rel} is not a JSON object", rel, fix))
        stats = None
    return Prepared(
        tuple(samples),
        splits_doc,
        indexes,
        stats,
        tuple(problems),
        tuple(stats_problems),
    )
