"""The upstream lineage of one path: every stage run it depends on, back to the raw source.

A path (a file or folder, possibly inside an output folder: `data/prepared/test/x`) belongs to
the stage whose dvc.lock outs contain it. That stage's current record (`lineage/<stage>.json`)
says what the run read; each data input is found, the same way, among the outs of the stage that
produces it (an input may be a part of another stage's output folder: `data/prepared/train` is
in transform's `data/prepared`), and so on upstream. The walk ends at stages that read no data
(ingest: its source is described by its params, `ingest.source`) and at data inputs that no stage
produces (raw files in the project, shown with their DVC hash).

Each link says whether the producer's current output still holds the bytes the consumer read
(`current`), holds other bytes (`changed`: the consumer is stale), or cannot be told here
(`unknown`: a part of a folder whose file listing is not in the local DVC cache).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pedigree.atomic import BoundedReadError, read_bounded
from pedigree.lineage.hashing import DIR_SUFFIX, listing_hash
from pedigree.lineage.record import Artifact, LineageRecord
from pedigree.lineage.store import LineageError, current_path, lock_outs, read_current

LinkState = Literal["current", "changed", "unknown", "raw"]
SYNTHETIC = "synthetic"
CACHE_DIR = Path(".dvc") / "cache" / "files" / "md5"
# A folder listing holds one short entry per file: 64 MiB is millions of files.
MAX_LISTING_BYTES = 64 << 20
RERUN_HINT = "re-create it with `pedigree run --stage {stage} --force` and commit lineage/"


@dataclass(frozen=True)
class Link:
    """One data input of a run, and where it came from."""

    path: str
    md5: str  # as the consuming run read it
    producer: str | None  # the stage that makes it; None for a raw input no stage produces
    within: str | None  # the producer's output holding it (== path when it is the output itself)
    state: LinkState


@dataclass(frozen=True)
class Source:
    """Where data enters the pipeline: a stage's external source, or a raw input file/folder."""

    kind: str  # synthetic | url | tarball | folder | params | input
    location: str  # URL, path or "synthetic"
    stage: str | None  # the stage that reads it (None for a raw input)
    sha256: str | None = None  # the pin given in params (URL, tarball)
    md5: str | None = None  # DVC hash of a raw input
    settings: tuple[tuple[str, Any], ...] = ()  # e.g. the synthetic generator's seed and count

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "location": self.location,
            "stage": self.stage,
            "sha256": self.sha256,
            "md5": self.md5,
            "settings": dict(self.settings),
        }


@dataclass(frozen=True)
class Step:
    """One stage run in the lineage and its data inputs."""

    record: LineageRecord
    links: tuple[Link, ...]

    @property
    def stage(self) -> str:
        return self.record.stage


@dataclass(frozen=True)
class Lineage:
    """The upstream graph of `target`: steps from the target's stage upstream, each once."""

    target: str  # the path asked about, relative to the project root
    output: str  # the stage output holding it
    steps: tuple[Step, ...]  # steps[0] makes `target`; then breadth-first upstream
    sources: tuple[Source, ...]

    @property
    def stage(self) -> str:
        """The stage that produced the target."""
        return self.steps[0].stage

    def step(self, stage: str) -> Step:
        """The step of `stage` (KeyError when the stage is not upstream of the target)."""
        for step in self.steps:
            if step.stage == stage:
                return step
        raise KeyError(stage)

    def runs_upstream_first(self) -> list[Step]:
        """Steps in the order they ran (start time, then stage name)."""
        return sorted(self.steps, key=lambda s: (s.record.started, s.stage))


def inside(path: str, out: str) -> bool:
    """True when `path` is `out` or lies inside the folder `out`."""
    return path == out or path.startswith(out.rstrip("/") + "/")


def producer_of(path: str, lock: dict[str, Any]) -> tuple[str, str] | None:
    """(stage, output) of the dvc.lock stage whose outs contain `path`; None when none does."""
    for stage, entry in lock.items():
        if not isinstance(entry, dict):
            continue
        for out in lock_outs(entry):
            if inside(path, out):
                return stage, out
    return None


def all_outputs(lock: dict[str, Any]) -> list[str]:
    """Every output path dvc.lock records, sorted."""
    return sorted(out for e in lock.values() if isinstance(e, dict) for out in lock_outs(e))


def part_hash(root: Path, folder_md5: str, rel: str) -> str | None:
    """DVC's hash of `rel` inside the folder whose hash is `folder_md5`, from the DVC cache.

    The cache keeps each folder's file listing (`<md5>.dir`); a part's hash is its file's md5,
    or the listing hash of the files under it. None when the listing is not in the cache.
    """
    if not folder_md5.endswith(DIR_SUFFIX) or len(folder_md5) < 3:
        return None
    listing = root / CACHE_DIR / folder_md5[:2] / folder_md5[2:]
    try:
        entries = json.loads(read_bounded(listing, MAX_LISTING_BYTES))
    except (OSError, ValueError, BoundedReadError, RecursionError):
        return None  # a listing that cannot be read is one we do not have: "unknown"
    if not isinstance(entries, list):
        return None
    prefix = rel.rstrip("/") + "/"
    below: list[dict[str, str]] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("relpath"), str):
            return None
        if entry["relpath"] == rel:
            return str(entry.get("md5"))
        if entry["relpath"].startswith(prefix):
            below.append({"md5": str(entry.get("md5")), "relpath": entry["relpath"][len(prefix) :]})
    return listing_hash(below) if below else None


def link_state(root: Path, item: Artifact, out: Artifact | None) -> LinkState:
    """Whether the producer's current output `out` still holds what was read as `item`."""
    if out is None:
        return "unknown"
    if item.path == out.path:
        return "current" if item.md5 == out.md5 else "changed"
    found = part_hash(root, out.md5, item.path[len(out.path) :].lstrip("/"))
    if found is None:
        return "unknown"
    return "current" if found == item.md5 else "changed"


def source_of(record: LineageRecord) -> Source:
    """The external source of a stage that reads no data, from its params (`<stage>.source`)."""
    section = record.params.get(record.stage)
    if not isinstance(section, dict) or not isinstance(section.get("source"), str):
        settings = tuple(sorted(record.params.items()))
        return Source(
            "params", f"params of stage '{record.stage}'", record.stage, None, None, settings
        )
    location = section["source"]
    sha256 = section.get("sha256") if isinstance(section.get("sha256"), str) else None
    if location == SYNTHETIC:
        synthetic = section.get(SYNTHETIC)
        settings = tuple(sorted(synthetic.items())) if isinstance(synthetic, dict) else ()
        return Source(SYNTHETIC, SYNTHETIC, record.stage, None, None, settings)
    if "://" in location:
        kind = "url"
    elif location.endswith((".tar.gz", ".tgz", ".tar")):
        kind = "tarball"
    else:
        kind = "folder"
    return Source(kind, location, record.stage, sha256)


def _record(root: Path, stage: str, entry: dict[str, Any]) -> LineageRecord:
    """The current record of `stage`, checked against dvc.lock's outs."""
    record = read_current(root, stage)
    rel = current_path(root, stage).relative_to(root)
    if record is None:
        raise LineageError(
            f"stage '{stage}' has no lineage record ({rel} is missing)",
            RERUN_HINT.format(stage=stage),
        )
    outs = lock_outs(entry)
    recorded = {o.path: o.md5 for o in record.outputs}
    if recorded != outs:
        differ = sorted(p for p in set(outs) | set(recorded) if outs.get(p) != recorded.get(p))
        detail = ", ".join(
            f"{p} (dvc.lock {str(outs.get(p, 'none'))[:12]}, record "
            f"{str(recorded.get(p, 'none'))[:12]})"
            for p in differ
        )
        raise LineageError(
            f"{rel} does not describe the current outputs of stage '{stage}': {detail}",
            RERUN_HINT.format(stage=stage),
        )
    return record


def trace(root: Path, lock: dict[str, Any], target: str) -> Lineage:
    """The upstream lineage of `target` (a POSIX path relative to `root`); LineageError if none."""
    found = producer_of(target, lock)
    if found is None:
        outputs = all_outputs(lock)
        held = [out for out in outputs if inside(out, target)]
        if held:
            raise LineageError(
                f"'{target}' is a folder holding several outputs, not one output: "
                + ", ".join(held),
                "ask about one of them, e.g. `pedigree lineage " + held[0] + "`",
            )
        listed = (
            ", ".join(outputs) if outputs else "none (dvc.lock has no stages: run the pipeline)"
        )
        raise LineageError(
            f"'{target}' is not an output of any stage (nor inside one); outputs: {listed}",
            "pass one of these outputs or a path inside an output folder",
        )
    first_stage, output = found
    if target != output and not (root / target).exists():
        raise LineageError(
            f"'{target}' does not exist inside '{output}' (output of stage '{first_stage}')",
            f"check the path, or restore the outputs with `dvc checkout {output}`",
        )
    steps: dict[str, Step] = {}
    sources: list[Source] = []
    queue = [first_stage]
    while queue:
        stage = queue.pop(0)
        if stage in steps:
            continue
        record = _record(root, stage, lock[stage])
        links = []
        for item in record.data_inputs:
            producer = producer_of(item.path, lock)
            if producer is None:
                links.append(Link(item.path, item.md5, None, None, "raw"))
                raw = Source("input", item.path, None, None, item.md5)
                if raw not in sources:
                    sources.append(raw)
                continue
            upstream = read_current(root, producer[0])
            out = upstream.output(producer[1]) if upstream is not None else None
            links.append(
                Link(item.path, item.md5, producer[0], producer[1], link_state(root, item, out))
            )
            queue.append(producer[0])
        if not record.data_inputs:
            sources.append(source_of(record))
        steps[stage] = Step(record, tuple(links))
    return Lineage(target, output, tuple(steps.values()), tuple(sources))
