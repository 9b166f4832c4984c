"""The API behind `pedigree replicate`: the spec's replicate.stages once per seed, summarise.

The spec's `replicate` section names the stages re-run per seed and the params key that is the
seed (pets: train, calibrate, evaluate; determinism.seed). Everything upstream of them (pets:
data/prepared, models/tune) is reused as it is and must be current.
Each seed runs in its own scratch workspace (`pedigree.replicate.workspace`); a seed's stages
whose lineage records still match are reused, not re-run, unless `force`. The spread of the
evaluation metrics over the seeds is written to replicates/summary.json
(`pedigree.replicate.summary`), which a stage may read (pets: evaluate's report).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pedigree.project import find_root
from pedigree.replicate.foldruns import Run
from pedigree.replicate.outcomes import LabelsOutcome, RunObserver, SeedOutcome, StageOutcome
from pedigree.replicate.stats import flatten_numbers
from pedigree.replicate.summary import (
    SUMMARY_PATH,
    Replicated,
    SeedRun,
    Summary,
    write_summary,
)
from pedigree.replicate.upstream import Plan, ReplicateError

if TYPE_CHECKING:
    from pedigree.replicate.isolation import Stats
    from pedigree.replicate.summary import FoldsInfo
    from pedigree.replicate.workspace import RunSetup

__all__ = ["ReplicateObserver", "SeedOutcome", "StageOutcome", "parse_seeds", "replicate"]

MIN_SEEDS = 2
MAX_SEED = 2**31 - 1  # a 32-bit signed seed: what numpy, TensorFlow and most stages accept
SEEDS_HINT = "give two or more different whole numbers, comma-separated: --seeds 1,2,3"
ReplicateObserver = RunObserver  # the progress protocol the CLI implements


@dataclass(frozen=True)
class ReplicateResult:
    """The runs, what happened to each, the summary written and, with folds, the label audit."""

    path: Path
    summary: Summary
    seeds: tuple[SeedOutcome, ...]
    changed: bool  # the summary's bytes changed
    readers: tuple[str, ...] = ()  # the stages whose deps include the summary (dvc.yaml)
    labels: LabelsOutcome | None = None
    metrics_path: str = ""  # the metrics file (reports/metrics.json), relative to the project
    project_metrics: dict[str, float] = field(default_factory=dict)  # the project's own, now

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the summary plus what ran."""
        doc: dict[str, Any] = {
            "path": str(self.path),
            "changed": self.changed,
            "readers": list(self.readers),
            "summary": self.summary.to_dict(),
            "seeds": [
                {
                    **({} if s.fold is None else {"fold": s.fold}),
                    "seed": s.seed,
                    "workspace": str(s.workspace),
                    "reused": s.reused,
                    "stages": [
                        {"stage": x.stage, "outcome": x.outcome, "seconds": round(x.seconds, 3)}
                        for x in s.stages
                    ],
                }
                for s in self.seeds
            ],
        }
        if self.labels is not None:
            doc["labels"] = self.labels.to_dict()
        if self.project_metrics:
            doc["project"] = {"path": self.metrics_path, "metrics": self.project_metrics}
        return doc


def parse_seeds(text: str | Sequence[int], least: int = MIN_SEEDS) -> tuple[int, ...]:
    """Seeds from "1,2,3" (or a sequence), at least `least` of them; ReplicateError saying what
    is wrong with them."""
    items = text.split(",") if isinstance(text, str) else [str(s) for s in text]
    items = [item.strip() for item in items]
    if not any(items):
        raise ReplicateError("--seeds is empty", SEEDS_HINT)
    seeds: list[int] = []
    for item in items:
        if not (item.isascii() and item.isdigit()) or int(item) > MAX_SEED:
            what = "an empty entry" if not item else f"'{item}'"
            raise ReplicateError(
                f"--seeds: {what} is not a seed (a whole number from 0 to {MAX_SEED})",
                SEEDS_HINT,
            )
        seed = int(item)
        if seed in seeds:
            raise ReplicateError(f"--seeds: seed {seed} is given twice", SEEDS_HINT)
        seeds.append(seed)
    if len(seeds) < least:
        raise ReplicateError(
            f"--seeds: one seed ({seeds[0]}) has no spread: replicate needs at least {MIN_SEEDS}",
            SEEDS_HINT,
        )
    return tuple(seeds)


def _metrics(ws: Path, rel: str, run: str) -> dict[str, float]:
    path = ws / rel
    try:
        return flatten_numbers(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ReplicateError(
            f"{run}: {path} is unreadable: {exc}",
            "run `pedigree replicate --force` for this run",
        ) from None


@dataclass(frozen=True)
class _Prepared:
    """A replicate's plan with the overrides in it, and the seeds it runs."""

    root: Path
    plan: Plan
    seeds: tuple[int, ...]
    changes: dict[str, Any]


def _prepare(
    start: Path, seeds: str | Sequence[int] | None, folds: int | None, overrides: Sequence[str]
) -> _Prepared:
    from pedigree.replicate.upstream import make_plan

    if folds is None and seeds is None:
        raise ReplicateError("replicate needs --seeds, --folds or both", SEEDS_HINT)
    root = find_root(start)
    plan = make_plan(root, folds=folds is not None)
    params = _params(root)
    changes = _overrides(plan, params, overrides)
    chosen = (
        parse_seeds(seeds, least=1 if folds is not None else MIN_SEEDS)
        if seeds is not None
        else (_project_seed(params, plan.seed),)
    )
    return _Prepared(root, replace(plan, replicated=_replicated(plan, changes)), chosen, changes)


def _fold_runs(prepared: _Prepared, folds: int) -> tuple[list[tuple[Run, RunSetup]], FoldsInfo]:
    from pedigree.replicate.foldruns import fold_runs

    if prepared.plan.folds is None:  # make_plan(folds=True) always sets it
        raise ReplicateError("the plan has no folds")
    return fold_runs(prepared.root, prepared.plan.folds, folds, prepared.seeds, prepared.changes)


@dataclass(frozen=True)
class FoldRunPlan:
    """The runs of a K-fold replicate, for running them one by one elsewhere (a cluster's
    pods): the fold plan's sha256 and the runs, fold by fold."""

    plan: str
    runs: tuple[Run, ...]

    def to_list(self) -> list[dict[str, Any]]:
        """One item per run: what a pod needs to run it (Argo's fan-out reads this list)."""
        return [{"fold": r.fold, "seed": r.seed, "plan": self.plan} for r in self.runs]


def plan_fold_runs(start: Path, folds: int | str, seeds: str | Sequence[int] | None) -> FoldRunPlan:
    """The runs `replicate --folds` would run (nothing runs; the fold plan is kept)."""
    from pedigree.replicate.foldruns import parse_folds

    k = parse_folds(folds)
    runs, info = _fold_runs(_prepare(start, seeds, k, ()), k)
    return FoldRunPlan(info.plan, tuple(run for run, _ in runs))


@dataclass(frozen=True)
class OneRun:
    """One fold run, run alone: its outcome and the workspace paths that are links to the
    shared upstream copy (every checkout makes them again; they travel with nothing)."""

    outcome: SeedOutcome
    plan: str
    links: tuple[str, ...]


def replicate_one(
    start: Path,
    folds: int | str,
    seeds: str | Sequence[int] | None,
    run: Run,
    plan: str,
    observer: ReplicateObserver | None = None,
) -> OneRun:
    """Run (or reuse) one fold run of `replicate --folds`, in its workspace, and nothing else:
    no summary, no label audit. `plan` is the fold plan's sha256 the run was planned with; a
    checkout that deals the folds otherwise is refused."""
    from pedigree.replicate.foldruns import parse_folds
    from pedigree.replicate.runner import execute

    k = parse_folds(folds)
    prepared = _prepare(start, seeds, k, ())
    runs, info = _fold_runs(prepared, k)
    if info.plan != plan:
        raise ReplicateError(
            f"the folds dealt here (plan {info.plan[:12]}) are not the planned ones "
            f"({plan[:12]}): the checkout's split records differ from the planning step's",
            "run every step of the replicate at one revision, on the same upstream data",
        )
    chosen = [(r, setup) for r, setup in runs if r == run]
    if not chosen:
        raise ReplicateError(
            f"{run.label()} is not a run of this replicate",
            f"give a fold from 0 to {k - 1} and one of the seeds "
            f"{', '.join(map(str, prepared.seeds))}",
        )
    (outcome,) = execute(prepared.plan, chosen, False, 1, observer)
    return OneRun(outcome, plan, prepared.plan.links)


def replicate(
    start: Path,
    seeds: str | Sequence[int] | None,
    force: bool = False,
    observer: ReplicateObserver | None = None,
    folds: int | None = None,
    jobs: int = 1,
    overrides: Sequence[str] = (),
    labels: bool = True,
    reuse_only: bool = False,
) -> ReplicateResult:
    """Re-run the spec's replicate.stages for each seed, or with `folds` every stage from the
    splits stage to the metrics stage for each fold and seed, and write replicates/summary.json;
    with folds and a declared label audit (unless `labels` is False) run it over the
    out-of-fold predictions. With `reuse_only`, every run must already be current (brought
    from a cluster): nothing runs but the label audit."""
    from pedigree.replicate.isolation import project_fingerprint
    from pedigree.replicate.runner import check_jobs, execute
    from pedigree.replicate.workspace import RunSetup, seeded_params

    check_jobs(jobs)
    prepared = _prepare(start, seeds, folds, overrides)
    root, plan, chosen, changes = (
        prepared.root,
        prepared.plan,
        prepared.seeds,
        prepared.changes,
    )
    untouched = project_fingerprint(plan)
    if folds is None:
        runs = [(Run(seed), RunSetup(Run(seed).name, changes)) for seed in chosen]
        info = None
    else:
        runs, info = _fold_runs(prepared, folds)
    outcomes = execute(plan, runs, force, jobs, observer, reuse_only)
    records = tuple(
        SeedRun(o.seed, _metrics(o.workspace, plan.metrics_path, run.label()), o.fold)
        for o, (run, _) in zip(outcomes, runs, strict=True)
    )
    _untouched(untouched, project_fingerprint(plan))
    summary = Summary(chosen, plan.replicated, records, info)
    path = root / SUMMARY_PATH
    before = path.read_text(encoding="utf-8") if path.is_file() else None
    changed = before != summary.to_json()
    if changed:
        write_summary(root, summary)
    audit = None
    if folds is not None and labels and plan.folds is not None and plan.folds.spec.labels:
        from pedigree.replicate.labels import run_label_audit

        spaces = {run.name: o.workspace for o, (run, _) in zip(outcomes, runs, strict=True)}
        # the project's params with the overrides, its seed as it is: what the audit reads
        params_text = seeded_params(root, None, plan.seed, changes)
        audit = run_label_audit(plan, spaces, params_text, force)
    return ReplicateResult(
        path,
        summary,
        tuple(outcomes),
        changed,
        summary_readers(root),
        audit,
        plan.metrics_path,
        _project_metrics(root / plan.metrics_path),
    )


def _project_metrics(path: Path) -> dict[str, float]:
    """The project's own metrics (its model on the test split), to place against the folds."""
    try:
        return flatten_numbers(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def _replicated(plan: Plan, overrides: dict[str, Any]) -> Replicated:
    """What every run shares, as the summary records it: the params with the overrides in
    them and without a fold's split map (it differs per fold), and the overrides."""
    from pedigree.replicate.overrides import apply_overrides, without_key

    params = apply_overrides(plan.replicated.params, overrides)
    if plan.folds is not None:
        params = without_key(params, plan.folds.spec.assignment)
    return replace(plan.replicated, params=params, overrides=dict(overrides))


def _params(root: Path) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _project_seed(params: dict[str, Any], key: str) -> int:
    from pedigree.replicate.overrides import get_key

    found, value = get_key(params, key)
    if not found or isinstance(value, bool) or not isinstance(value, int):
        raise ReplicateError(
            f"params.yaml {key} is not a whole number, so there is no seed to replicate with",
            "give the seeds: --seeds 1,2",
        )
    return value


def _untouched(before: Stats, after: Stats) -> None:
    """The runs ran in their workspaces: the project itself must be exactly as it was."""
    from pedigree.replicate.isolation import changed_files

    touched = changed_files(before, after)
    if touched:
        more = len(touched) - 5
        shown = ", ".join(touched[:5]) + (f" and {more} more" if more > 0 else "")
        raise ReplicateError(
            f"the project changed while the replicates ran ({shown}): a replicated stage wrote "
            "outside its workspace, or something else changed the project meanwhile; no summary "
            "was written",
            "make the stage write only to the paths dvc.yaml gives it (relative to its working "
            "folder), restore the files (`git checkout`, `dvc checkout`), then run "
            "`pedigree replicate` again",
        )


def _overrides(plan: Plan, params: dict[str, Any], items: Sequence[str]) -> dict[str, Any]:
    """The --set overrides, checked against params.yaml; the seed and a fold's map are refused."""
    from pedigree.replicate.overrides import parse_overrides

    reserved = [plan.seed] + ([plan.folds.spec.assignment] if plan.folds else [])
    return parse_overrides(items, params, reserved)


def summary_readers(root: Path) -> tuple[str, ...]:
    """The stages of dvc.yaml that depend on the replicates summary, in dvc.yaml's order."""
    import yaml

    try:
        doc = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return ()
    stages = doc.get("stages") if isinstance(doc, dict) else None
    if not isinstance(stages, dict):
        return ()
    return tuple(
        name
        for name, body in stages.items()
        if isinstance(body, dict) and SUMMARY_PATH in (body.get("deps") or [])
    )
