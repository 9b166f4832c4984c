"""Comparing a re-run's outputs with dvc.lock, down to the files that differ in a folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pedigree.lineage.hashing import Ignore, content_hash, dir_listing
from pedigree.verify.cache import read_listing
from pedigree.verify.workspace import Locked

MAX_DETAILS = 10


@dataclass(frozen=True)
class OutputCheck:
    """One output: the hash dvc.lock records and the hash the re-run produced."""

    stage: str
    path: str
    recorded: str
    reproduced: str | None  # None: the re-run did not write it
    details: tuple[str, ...] = field(default_factory=tuple)

    @property
    def identical(self) -> bool:
        return self.reproduced == self.recorded


def _folder_details(cache: Path, recorded: str, folder: Path, ignore: Ignore) -> tuple[str, ...]:
    before = read_listing(cache, recorded)
    if before is None:
        return ("(the recorded listing is not in the DVC cache: cannot name the files)",)
    old = {e["relpath"]: e["md5"] for e in before}
    new = {e["relpath"]: e["md5"] for e in dir_listing(folder, ignore)}
    lines = [f"differs: {p}" for p in sorted(old.keys() & new.keys()) if old[p] != new[p]]
    lines += [f"missing: {p}" for p in sorted(old.keys() - new.keys())]
    lines += [f"extra:   {p}" for p in sorted(new.keys() - old.keys())]
    if len(lines) > MAX_DETAILS:
        lines = [*lines[:MAX_DETAILS], f"... and {len(lines) - MAX_DETAILS} more"]
    return tuple(lines)


def compare_outputs(
    stage: str, outs: tuple[Locked, ...], scratch: Path, cache: Path
) -> list[OutputCheck]:
    """Hash every recorded output in `scratch` and compare it with dvc.lock."""
    ignore = Ignore(scratch)
    checks = []
    for out in outs:
        found = content_hash(scratch / out.path, ignore)
        reproduced = None if found is None else found.md5
        details: tuple[str, ...] = ()
        if found is not None and found.is_dir and reproduced != out.md5:
            details = _folder_details(cache, out.md5, scratch / out.path, ignore)
        checks.append(OutputCheck(stage, out.path, out.md5, reproduced, details))
    return checks
