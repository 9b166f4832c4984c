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
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pedigree.project import find_root
from pedigree.replicate.stats import flatten_numbers
from pedigree.replicate.summary import SUMMARY_PATH, SeedRun, Summary, write_summary
from pedigree.replicate.upstream import ReplicateError

MIN_SEEDS = 2
MAX_SEED = 2**31 - 1  # a 32-bit signed seed: what numpy, TensorFlow and most stages accept
SEEDS_HINT = "give two or more different whole numbers, comma-separated: --seeds 1,2,3"
Outcome = Literal["ran", "reused"]


@dataclass(frozen=True)
class StageOutcome:
    """What happened to one stage of one seed."""

    stage: str
    outcome: Outcome
    seconds: float


@dataclass(frozen=True)
class SeedOutcome:
    """One seed: its workspace and its stages."""

    seed: int
    workspace: Path
    stages: tuple[StageOutcome, ...]

    @property
    def reused(self) -> bool:
        """True when no stage of this seed had to run."""
        return all(s.outcome == "reused" for s in self.stages)


@dataclass(frozen=True)
class ReplicateResult:
    """The seeds, what happened to each, and the summary written."""

    path: Path
    summary: Summary
    seeds: tuple[SeedOutcome, ...]
    changed: bool  # the summary's bytes changed
    readers: tuple[str, ...] = ()  # the stages whose deps include the summary (dvc.yaml)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the summary plus what ran."""
        return {
            "path": str(self.path),
            "changed": self.changed,
            "readers": list(self.readers),
            "summary": self.summary.to_dict(),
            "seeds": [
                {
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


class ReplicateObserver(Protocol):
    """Receives progress while the seeds run."""

    def stage_finished(self, seed: int, result: StageOutcome) -> None:
        """`result.stage` of `seed` ran or was reused."""


def parse_seeds(text: str | Sequence[int]) -> tuple[int, ...]:
    """Seeds from "1,2,3" (or a sequence); ReplicateError saying what is wrong with them."""
    items = text.split(",") if isinstance(text, str) else [str(s) for s in text]
    items = [item.strip() for item in items]
    if not any(items):
        raise ReplicateError("--seeds is empty", SEEDS_HINT)
    seeds: list[int] = []
    for item in items:
        if not item.isdigit() or int(item) > MAX_SEED:
            what = "an empty entry" if not item else f"'{item}'"
            raise ReplicateError(
                f"--seeds: {what} is not a seed (a whole number from 0 to {MAX_SEED})",
                SEEDS_HINT,
            )
        seed = int(item)
        if seed in seeds:
            raise ReplicateError(f"--seeds: seed {seed} is given twice", SEEDS_HINT)
        seeds.append(seed)
    if len(seeds) < MIN_SEEDS:
        raise ReplicateError(
            f"--seeds: one seed ({seeds[0]}) has no spread: replicate needs at least {MIN_SEEDS}",
            SEEDS_HINT,
        )
    return tuple(seeds)


def _metrics(ws: Path, rel: str, seed: int) -> dict[str, float]:
    path = ws / rel
    try:
        return flatten_numbers(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ReplicateError(
            f"seed {seed}: {path} is unreadable: {exc}",
            "run `pedigree replicate --force` for this seed",
        ) from None


def replicate(
    start: Path,
    seeds: str | Sequence[int],
    force: bool = False,
    observer: ReplicateObserver | None = None,
) -> ReplicateResult:
    """Re-run the spec's replicate.stages for each seed and write replicates/summary.json."""
    from pedigree.replicate.isolation import changed_files, project_fingerprint
    from pedigree.replicate.upstream import make_plan
    from pedigree.replicate.workspace import build_workspace, run_stage, stage_is_current

    chosen = parse_seeds(seeds)
    root = find_root(start)
    plan = make_plan(root)
    untouched = project_fingerprint(plan)
    outcomes: list[SeedOutcome] = []
    runs: list[SeedRun] = []
    for seed in chosen:
        ws = build_workspace(plan, seed)
        stages: list[StageOutcome] = []
        for stage in plan.stages:
            started = time.monotonic()
            if not force and stage_is_current(ws, stage):
                result = StageOutcome(stage, "reused", 0.0)
            else:
                run_stage(ws, stage, plan.commands[stage], seed)
                result = StageOutcome(stage, "ran", time.monotonic() - started)
            stages.append(result)
            if observer is not None:
                observer.stage_finished(seed, result)
        outcomes.append(SeedOutcome(seed, ws, tuple(stages)))
        runs.append(SeedRun(seed, _metrics(ws, plan.metrics_path, seed)))
    # the seeds ran in their workspaces: the project itself must be exactly as it was
    touched = changed_files(untouched, project_fingerprint(plan))
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
    summary = Summary(chosen, plan.replicated, tuple(runs))
    path = root / SUMMARY_PATH
    before = path.read_text(encoding="utf-8") if path.is_file() else None
    changed = before != summary.to_json()
    if changed:
        write_summary(root, summary)
    return ReplicateResult(path, summary, tuple(outcomes), changed, summary_readers(root))


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
