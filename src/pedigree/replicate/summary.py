"""replicates/summary.json: which seeds were replicated, from what, and the metrics' spread.

The file is versioned in git next to dvc.lock and is a dependency of evaluate, whose report shows
the spread when the summary replicates the same upstream as the evaluated model. Its bytes depend
only on its content (sorted keys, numbers rounded as metrics.json rounds them, no timestamps), so
replicating the same seeds again rewrites the same bytes and evaluate stays up to date.

Shape (schema pedigree.replicates/v1):
  seeds       [1, 2, 3]; [] when nothing was replicated yet
  std         what "std" means: the sample standard deviation (n - 1)
  replicates  what every seed shares, or null: the replicated stages, the params key varied
              per seed (`seed`, spec.replicate.seed, e.g. determinism.seed), the upstream
              outputs (dvc.lock outs, e.g. data/prepared, models/tune) and the data inputs the
              stages read (e.g. models/tune/best_params.json) with their hashes, the params
              without the seed, and the code folders and environment locks with their hashes
  runs        per seed, every numeric leaf of the seed's metrics.json as a key path ("iou.pet");
              with --folds one per fold and seed, with its "fold", sorted by fold then seed
  metrics     per key path: n, mean, std, min, max, range (and with --folds "interval": the
              95% Student-t interval of the mean over all runs, see stats.py)
With `pedigree replicate --folds K` also:
  folds       k, the plan's seed, method and sha256, the group key, the held-out split, the
              inner shares, the held-out samples per fold and the test samples left out
  interval    what "interval" means
  replicates  "overrides": the params set for the replicates only (--set), when any
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pedigree.atomic import write_atomically
from pedigree.replicate.stats import INTERVAL_KIND, STD_KIND, fold_table, rounded, spreads

SUMMARY_PATH = "replicates/summary.json"
SCHEMA = "pedigree.replicates/v1"
NO_RESULTS_NOTE = "no replicate results yet: run `pedigree replicate --seeds 1,2,3`"


@dataclass(frozen=True)
class Replicated:
    """What every replicate shares: only the seed differs between them."""

    stages: tuple[str, ...]
    upstream: dict[str, str]  # upstream stage outputs (as dvc.lock records them) -> md5
    inputs: dict[str, str]  # data deps of the replicated stages -> md5
    params: dict[str, Any]  # params.yaml sections, the seed (spec.replicate.seed) left out
    code: dict[str, str]  # code folders and environment locks -> md5
    seed: str | None = None  # the params key varied per seed (section.key), spec.replicate.seed
    overrides: dict[str, Any] = field(default_factory=dict)  # --set: dotted key -> value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        doc: dict[str, Any] = {
            "stages": list(self.stages),
            "upstream": dict(sorted(self.upstream.items())),
            "inputs": dict(sorted(self.inputs.items())),
            "params": self.params,
            "code": dict(sorted(self.code.items())),
        }
        if self.seed is not None:
            doc["seed"] = self.seed
        if self.overrides:
            doc["overrides"] = dict(sorted(self.overrides.items()))
        return doc


@dataclass(frozen=True)
class FoldsInfo:
    """How the folds were made: enough to find the plan again and to read the table."""

    k: int
    seed: int
    method: str
    plan: str  # sha256 of the plan (.pedigree/replicate/folds/plan-<sha256>.json)
    group_key: str
    held_out: str  # the split each fold's held-out samples went to
    inner: dict[str, float]  # inner split -> share of the other folds' samples
    sizes: tuple[int, ...]  # held-out samples per fold
    excluded: int  # samples of the fixed test split, in no fold

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "k": self.k,
            "seed": self.seed,
            "method": self.method,
            "plan": self.plan,
            "group_key": self.group_key,
            "held_out": self.held_out,
            "inner": dict(sorted(self.inner.items())),
            "sizes": list(self.sizes),
            "excluded": self.excluded,
        }


@dataclass(frozen=True)
class SeedRun:
    """One seed's evaluation metrics, flattened to key paths."""

    seed: int
    metrics: dict[str, float]
    fold: int | None = None  # the fold held out, with --folds

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        values = {key: rounded(value) for key, value in sorted(self.metrics.items())}
        doc: dict[str, Any] = {"seed": self.seed, "metrics": values}
        if self.fold is not None:
            doc["fold"] = self.fold
        return doc


@dataclass(frozen=True)
class Summary:
    """The whole file."""

    seeds: tuple[int, ...]
    replicated: Replicated | None
    runs: tuple[SeedRun, ...]
    folds: FoldsInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the per-metric spread computed from the runs (and, over folds,
        the 95% interval of the mean)."""
        folded = self.folds is not None
        runs = sorted(self.runs, key=lambda r: (r.fold or 0, self.seeds.index(r.seed)))
        doc: dict[str, Any] = {
            "schema": SCHEMA,
            "seeds": list(self.seeds),
            "std": STD_KIND,
            "replicates": None if self.replicated is None else self.replicated.to_dict(),
            "runs": (
                # the per fold x seed table (a fold and seed twice is a ValueError)
                fold_table([(r.fold or 0, r.seed, r.metrics) for r in runs], seeds=self.seeds)
                if folded
                else [run.to_dict() for run in runs]
            ),
            "metrics": {
                key: value.to_dict(interval=folded)
                for key, value in spreads([r.metrics for r in runs]).items()
            },
        }
        if self.folds is not None:
            doc["folds"] = self.folds.to_dict()
            doc["interval"] = INTERVAL_KIND
        if not self.seeds:
            doc["note"] = NO_RESULTS_NOTE
        return doc

    def to_json(self) -> str:
        """Stable text: sorted keys, indent 2, ASCII, a final newline."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def empty_summary() -> Summary:
    """The summary before anything was replicated (the committed initial file)."""
    return Summary((), None, ())


def write_summary(root: Path, summary: Summary) -> Path:
    """Replace the project's replicates/summary.json in one rename."""
    path = root / SUMMARY_PATH
    write_atomically(path, summary.to_json())
    return path
