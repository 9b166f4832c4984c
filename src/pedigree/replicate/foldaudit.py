"""The fold isolation audit: from each fold run's lineage records, no held-out sample reached a
stage that must not see it, and the folds were made by group.

For the fold summary in replicates/summary.json, with the plan it names (kept in
.pedigree/replicate/folds/), every fold x seed run's workspace is read:
  1. the splits stage's record names, in its params, the split map it ran with; the map's bytes
     hash to its name, and it belongs to this plan and fold;
  2. the splits stage's recorded output hashes to what is in the workspace now, so the split
     records (the provenance file: sample -> split) describe what the later stages read;
  3. the held-out split holds exactly the fold's held-out samples, no sample of the fixed test
     split appears anywhere, and no group sits in two splits;
  4. every other stage's record (succeeded, and its inputs hashing to what is there now) reads
     only splits that exclude the held-out samples: each stage the spec does not allow to read the
     held-out split (`spec.data.heldOut`) is handed, with the sample ids of the splits its
     recorded inputs cover, to `folds.check_isolation`.
Findings are plain (message, where, fix) triples; `pedigree.api.audit` makes them a check result.
The workspaces are local (.pedigree/ is not versioned): in a checkout without them the check
says so and how to re-create them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pedigree.graph import is_within
from pedigree.replicate.foldruns import ASSIGNMENT_SCHEMA, Run, load_plan
from pedigree.replicate.folds import FoldError, FoldPlan, check_isolation
from pedigree.replicate.overrides import get_key
from pedigree.replicate.summary import SUMMARY_PATH
from pedigree.replicate.upstream import fold_stages
from pedigree.replicate.workspace import scratch_dir
from pedigree.spec.model import PipelineSpec

RERUN = "run `pedigree replicate --folds K` again (current runs are reused, stale ones re-run)"


@dataclass(frozen=True)
class FoldFinding:
    """One thing wrong with a fold run."""

    message: str
    where: str
    fix: str


@dataclass(frozen=True)
class FoldAudit:
    """The outcome: what was checked, the findings, or why it could not run (`skipped`)."""

    summary: str
    findings: tuple[FoldFinding, ...] = ()
    skipped: str | None = None  # how to make the check apply


def _summary(root: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((root / SUMMARY_PATH).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def audit_folds(root: Path, spec: PipelineSpec) -> FoldAudit:
    """Check every fold run of the project's fold summary from its records."""
    rep, data = spec.spec.replicate, spec.spec.data
    folds = None if rep is None else rep.folds
    if folds is None or data is None:
        return FoldAudit(
            "the spec declares no folds (spec.replicate.folds)",
            skipped="declare spec.replicate.folds to replicate by grouped K-fold",
        )
    doc = _summary(root)
    info = None if doc is None else doc.get("folds")
    if doc is None or not isinstance(info, dict) or not isinstance(info.get("plan"), str):
        return FoldAudit(
            f"{SUMMARY_PATH} holds no fold replicates",
            skipped="run `pedigree replicate --folds 5`",
        )
    try:
        plan = load_plan(root, info["plan"])
    except FoldError as exc:
        return FoldAudit(
            f"the fold runs behind {SUMMARY_PATH} are not in this checkout ({exc.message})",
            skipped=f"the runs live in .pedigree/replicate/ (not versioned): {RERUN}",
        )
    findings: list[FoldFinding] = []
    runs = [r for r in doc.get("runs", []) if isinstance(r, dict) and "fold" in r]
    for entry in runs:
        run = Run(int(entry["seed"]), int(entry["fold"]))
        findings += _check_run(root, spec, plan, run)
    checked = f"{len(runs)} fold run(s) of {plan.k}-fold plan {plan.digest()[:12]}"
    return FoldAudit(checked, tuple(findings))


def _provenance(path: Path) -> Iterator[dict[str, Any]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            doc = json.loads(line)
            if isinstance(doc, dict):
                yield doc


def _check_run(root: Path, spec: PipelineSpec, plan: FoldPlan, run: Run) -> list[FoldFinding]:
    from pedigree.lineage import store
    from pedigree.lineage.hashing import Ignore, content_hash

    rep, data = spec.spec.replicate, spec.spec.data
    if rep is None or rep.folds is None or data is None or run.fold is None:
        return []
    folds, splits = rep.folds, data.splits
    ws = scratch_dir(root, run.name)
    where = f".pedigree/replicate/{run.name}"

    def finding(message: str, fix: str = RERUN) -> list[FoldFinding]:
        return [FoldFinding(f"{run.label()}: {message}", where, fix)]

    if not ws.is_dir():
        return finding("its workspace is missing, so nothing proves its isolation")
    ignore = Ignore(ws)
    try:
        splitter = store.read_current(ws, splits.stage)
    except store.LineageError as exc:
        return finding(f"the record of '{splits.stage}' is unreadable: {exc.message}")
    if splitter is None or splitter.status != "succeeded":
        return finding(f"'{splits.stage}' has no successful lineage record")
    found, rel = get_key(splitter.params, folds.assignment)
    if not found or not isinstance(rel, str):
        return finding(f"'{splits.stage}' ran without a split map ({folds.assignment})")
    problems = _check_map(ws / rel, plan, run.fold, folds.held_out)
    if problems:
        return finding(f"{rel}: {problems}")
    for written in splitter.outputs:
        now = content_hash(ws / written.path, ignore)
        if now is None or now.md5 != written.md5:
            return finding(f"{written.path} is not what '{splits.stage}' wrote (changed since)")
    split_of: dict[str, str] = {}
    group_splits: dict[str, set[str]] = {}
    for line in _provenance(ws / splits.path / splits.files.provenance):
        split_of[str(line.get("id"))] = str(line.get("split"))
        group = str(line.get(splits.group_key))
        group_splits.setdefault(group, set()).add(str(line.get("split")))
    out: list[FoldFinding] = []
    held = {s for s, split in split_of.items() if split == folds.held_out}
    if held != set(plan.fold(run.fold).samples):
        out += finding(
            f"the {folds.held_out} split is not exactly fold {run.fold}'s held-out samples "
            f"({len(held)} there, {len(plan.fold(run.fold).samples)} in the plan)"
        )
    tested = sorted(set(split_of) & set(plan.excluded))
    if tested:
        out += finding(f"{len(tested)} sample(s) of the test split are in its splits")
    for group, inside in sorted(group_splits.items()):
        if len(inside) > 1:
            out += finding(f"group '{group}' is in several splits: {', '.join(sorted(inside))}")
    allowed = set(data.held_out.get(folds.held_out, ()))
    reached: dict[str, list[str]] = {}
    for stage in fold_stages(spec)[1:]:  # the splits stage aside
        if stage in allowed:
            continue
        record = store.read_current(ws, stage)
        if record is None or record.status != "succeeded":
            out += finding(f"'{stage}' has no successful lineage record")
            continue
        covered: set[str] = set()
        for artifact in record.data_inputs:
            now = content_hash(ws / artifact.path, ignore)
            if now is None or now.md5 != artifact.md5:
                out += finding(f"'{stage}' read {artifact.path} as it no longer is")
            for name in splits.names:
                folder = f"{splits.path}/{name}"
                if is_within(artifact.path, folder) or is_within(folder, artifact.path):
                    covered.add(name)
        reached[stage] = [s for s, split in split_of.items() if split in covered]
    out += [
        FoldFinding(message, where, "make the stage read only the splits the spec allows it")
        for message in check_isolation(plan, run.fold, reached)
    ]
    return out


def _check_map(path: Path, plan: FoldPlan, fold: int, held_out: str) -> str:
    """What is wrong with a fold's split map, "" when nothing."""
    try:
        data = path.read_bytes()
        doc = json.loads(data)
    except (OSError, ValueError) as exc:
        return f"unreadable: {exc}"
    if hashlib.sha256(data).hexdigest()[:16] != path.stem:
        return "its bytes do not hash to its name (it was changed after the run)"
    if not isinstance(doc, dict) or doc.get("schema") != ASSIGNMENT_SCHEMA:
        return f"not a {ASSIGNMENT_SCHEMA} file"
    if doc.get("plan") != plan.digest() or doc.get("fold") != fold:
        return f"made for another plan or fold than fold {fold} of plan {plan.digest()[:12]}"
    splits = doc.get("splits")
    if not isinstance(splits, dict) or sorted(splits.get(held_out) or []) != sorted(
        plan.fold(fold).groups
    ):
        return f"its {held_out} groups are not fold {fold}'s held-out groups"
    return ""
