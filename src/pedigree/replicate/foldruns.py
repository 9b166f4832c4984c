"""The runs of a replicate and, with `--folds K`, the fold plan and each fold's split map.

A run is one seed (`seed-N`) or one fold and seed (`fold-F-seed-N`), each in its own workspace.
The folds are planned from the project's split records (the provenance file the splits stage
writes: one line per sample with its id, its group and its split): every sample outside the
fixed test split is folded by group (`pedigree.replicate.folds.assign_folds`), the test split's
samples are recorded as left out. Fold F's split map (schema pedigree.fold-assignment/v1) sends
the held-out fold's groups to the spec's `heldOut` split, the other folds' groups to the train
split and the inner splits (`FoldPlan.inner_split`), and names no test-split group, so the
splits stage leaves those out. The map is written into the workspace under a name made from its
own sha256, and the params key `assignment` points at it: the splits stage's params change
whenever the map does, so its lineage record tells a stale fold from a current one.

The plan itself is kept in `.pedigree/replicate/folds/plan-<sha256>.json` for `pedigree audit`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pedigree.atomic import write_atomically
from pedigree.foldmap import SCHEMA as ASSIGNMENT_SCHEMA
from pedigree.replicate.folds import FoldError, FoldPlan, assign_folds
from pedigree.replicate.upstream import FoldSetup, ReplicateError

if TYPE_CHECKING:
    from pedigree.replicate.summary import FoldsInfo
    from pedigree.replicate.workspace import RunSetup

ASSIGNMENT_DIR = "folds"  # inside a fold's workspace
PLANS = Path(".pedigree") / "replicate" / "folds"  # the fold plans, by digest
MIN_FOLDS = 2
MAX_FOLDS = 50
FOLDS_HINT = "give a whole number of folds from 2 to 50: --folds 5"


@dataclass(frozen=True)
class Run:
    """One replicate run: a seed, and with `--folds` the fold it holds out."""

    seed: int
    fold: int | None = None

    @property
    def name(self) -> str:
        """The workspace's folder name: seed-N or fold-F-seed-N."""
        return f"seed-{self.seed}" if self.fold is None else f"fold-{self.fold}-seed-{self.seed}"

    def label(self) -> str:
        """How progress lines name the run."""
        return f"seed {self.seed}" if self.fold is None else f"fold {self.fold} seed {self.seed}"


def parse_folds(value: int | str) -> int:
    """The number of folds; ReplicateError when it is no whole number from 2 to 50."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not MIN_FOLDS <= int(text) <= MAX_FOLDS:
        raise ReplicateError(f"--folds: '{value}' is not a number of folds", FOLDS_HINT)
    return int(text)


def read_samples(root: Path, setup: FoldSetup) -> tuple[dict[str, str], list[str]]:
    """(sample id -> group for every sample outside the test split, the test split's ids) from
    the project's provenance file; ReplicateError naming the line that is unusable."""
    path = root / setup.provenance
    hint = "run `pedigree run` to rewrite the split records, then `pedigree replicate` again"
    groups: dict[str, str] = {}
    test: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ReplicateError(f"{path} is unreadable: {exc}", hint) from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError as exc:
            raise ReplicateError(f"{path}:{number}: not JSON: {exc}", hint) from None
        sample = doc.get("id") if isinstance(doc, dict) else None
        group = doc.get(setup.group_key) if isinstance(doc, dict) else None
        split = doc.get("split") if isinstance(doc, dict) else None
        if not isinstance(sample, str) or not isinstance(split, str):
            raise ReplicateError(f"{path}:{number}: a line without a text id and split", hint)
        if split == setup.test_split:
            test.append(sample)
            continue
        if not isinstance(group, str) or not group:
            raise ReplicateError(
                f"{path}:{number}: sample '{sample}' has no group ({setup.group_key})",
                "the spec's data.splits.groupKey must name a field every provenance line has",
            )
        if sample in groups:
            raise ReplicateError(f"{path}:{number}: sample '{sample}' is listed twice", hint)
        groups[sample] = group
    return groups, test


def plan_folds(root: Path, setup: FoldSetup, k: int) -> FoldPlan:
    """The grouped K-fold plan of the project's samples outside the test split."""
    groups, test = read_samples(root, setup)
    try:
        return assign_folds(groups, k, setup.spec.seed, excluded=test)
    except FoldError as exc:
        raise ReplicateError(f"--folds {k}: {exc.message}", exc.hint or FOLDS_HINT) from None


def assignment(plan: FoldPlan, fold: int, setup: FoldSetup) -> dict[str, Any]:
    """Fold `fold`'s split map: split -> the groups it gets (the test split's get none)."""
    try:
        inner = plan.inner_split(fold, dict(setup.spec.inner), train=setup.train)
    except FoldError as exc:
        raise ReplicateError(
            f"--folds {plan.k}: {exc.message}", exc.hint or "use fewer folds"
        ) from None
    splits = {part.name: list(part.groups) for part in inner.parts}
    splits[setup.spec.held_out] = list(plan.fold(fold).groups)
    return {
        "schema": ASSIGNMENT_SCHEMA,
        "k": plan.k,
        "fold": fold,
        "plan": plan.digest(),
        "splits": dict(sorted(splits.items())),
    }


def assignment_text(doc: dict[str, Any]) -> tuple[str, str]:
    """(file name, text) of a split map: stable JSON, named by its own sha256."""
    text = json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=True) + "\n"
    digest = hashlib.sha256(text.encode("ascii")).hexdigest()
    return f"{ASSIGNMENT_DIR}/{digest[:16]}.json", text


def fold_runs(
    root: Path, setup: FoldSetup, k: int, seeds: Sequence[int], overrides: Mapping[str, Any]
) -> tuple[list[tuple[Run, RunSetup]], FoldsInfo]:
    """The runs of a K-fold replicate (fold by fold, each seed), each with its fold's split map
    written into its workspace and named by the params key `assignment`; the plan is kept for
    the audit. Also what the summary says about the folds."""
    from pedigree.replicate.folds import METHOD
    from pedigree.replicate.summary import FoldsInfo
    from pedigree.replicate.workspace import RunSetup

    plan = plan_folds(root, setup, k)
    save_plan(root, plan)
    runs: list[tuple[Run, RunSetup]] = []
    for fold in range(k):
        name, text = assignment_text(assignment(plan, fold, setup))
        changes = {**overrides, setup.spec.assignment: name}
        for seed in seeds:
            run = Run(seed, fold)
            runs.append((run, RunSetup(run.name, changes, {name: text})))
    info = FoldsInfo(
        k,
        plan.seed,
        METHOD,
        plan.digest(),
        setup.group_key,
        setup.spec.held_out,
        dict(setup.spec.inner),
        tuple(len(f.samples) for f in plan.folds),
        len(plan.excluded),
    )
    return runs, info


def plan_path(root: Path, digest: str) -> Path:
    """Where the plan with `digest` is kept."""
    return root / PLANS / f"plan-{digest}.json"


def save_plan(root: Path, plan: FoldPlan) -> Path:
    """Keep `plan` for the audit (rewritten when missing or changed)."""
    path = plan_path(root, plan.digest())
    text = json.dumps(plan.to_dict(), sort_keys=True, indent=1) + "\n"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text)
    return path


def load_plan(root: Path, digest: str) -> FoldPlan:
    """The plan with `digest`; FoldError when it is missing, unreadable or not that plan."""
    path = plan_path(root, digest)
    try:
        plan = FoldPlan.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise FoldError(f"the fold plan {path} is unreadable: {exc}") from None
    if plan.digest() != digest:
        raise FoldError(f"{path} is not the fold plan {digest[:12]}: it was changed")
    return plan
