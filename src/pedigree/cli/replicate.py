"""`pedigree replicate`: the spec's stages again per seed, or per fold and seed (grouped nested
K-fold), and show the spread.

Parses, calls `pedigree.api.replicate.replicate`, and renders a table or --json. Errors are
PedigreeError subclasses, printed once by `pedigree.cli.main.main`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from pedigree.api import replicate as replicate_api
from pedigree.cli import render
from pedigree.cli.options import CONTEXT, Options, json_option
from pedigree.replicate.foldruns import Run, parse_folds
from pedigree.replicate.outcomes import LabelsOutcome
from pedigree.replicate.stats import INTERVAL_KIND, STD_KIND

COLUMNS = ("metric", "mean", "std", "min", "max", "range")
FOLD_COLUMNS = ("metric", "mean", "std", "min", "max", "95% interval", "project", "where")
SHOWN_PER_FOLD = ("mean_iou", "pixel_accuracy")  # the per-fold table's columns, when present


class _Progress:
    """One line per stage of each run, as it finishes."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def stage_finished(self, run: Run, result: replicate_api.StageOutcome) -> None:
        if self.quiet:
            return
        if result.outcome == "reused":
            render.say(f"  {run.label()}: {result.stage:<10} reused (up to date in its workspace)")
        else:
            render.say(f"  {run.label()}: {result.stage:<10} ran in {result.seconds:.1f}s")


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6f}"


def _aligned(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _table(result: replicate_api.ReplicateResult) -> list[str]:
    doc = result.summary.to_dict()
    if "folds" not in doc:
        rows: list[tuple[str, ...]] = [COLUMNS]
        for key, spread in doc["metrics"].items():
            rows.append((key, *(_cell(spread[c]) for c in COLUMNS[1:])))
        return _aligned(rows)
    rows = list[tuple[str, ...]]([FOLD_COLUMNS])
    for key, spread in doc["metrics"].items():
        interval = spread.get("interval")
        low_high = "n/a" if interval is None else f"[{interval[0]:.6f}, {interval[1]:.6f}]"
        ours = result.project_metrics.get(key)
        rows.append(
            (
                key,
                *(_cell(spread[c]) for c in ("mean", "std", "min", "max")),
                low_high,
                _cell(ours),
                _where(ours, interval),
            )
        )
    return _aligned(rows)


def _where(value: float | None, interval: list[float] | None) -> str:
    if value is None or interval is None:
        return ""
    return "below" if value < interval[0] else "above" if value > interval[1] else "inside"


def _fold_table(doc: dict[str, Any]) -> list[str]:
    keys = [k for k in SHOWN_PER_FOLD if k in doc["metrics"]] or sorted(doc["metrics"])[:2]
    rows: list[tuple[str, ...]] = [("fold", "seed", *keys)]
    for run in doc["runs"]:
        rows.append(
            (str(run["fold"]), str(run["seed"]), *(_cell(run["metrics"].get(k)) for k in keys))
        )
    return _aligned(rows)


def _say_labels(labels: LabelsOutcome, overridden: bool) -> None:
    state = "reused" if labels.outcome == "reused" else "ran"
    render.say(f"label audit {state}: wrote {', '.join(labels.outs)}")
    if labels.images is None or labels.flagged is None:
        return
    render.say(f"label audit: {labels.flagged} of {labels.images} images flagged")
    if labels.flagged * 2 > labels.images:
        # a model that is wrong everywhere makes every label look wrong
        why = " (the replicates ran with --set overrides)" if overridden else ""
        render.say(
            "note: more than half the images flagged: the fold models are likely too weak for "
            f"the label audit to tell label errors from model errors{why}; replicate without "
            "cheapening overrides before acting on it"
        )


@click.command(context_settings=CONTEXT)
@click.option(
    "--seeds",
    default=None,
    help="Comma-separated seeds (the spec's replicate.seed param): at least two without "
    "--folds (1,2,3); with --folds one or more (default: params.yaml's seed).",
)
@click.option(
    "--folds",
    "folds",
    default=None,
    metavar="K",
    help="Grouped nested K-fold (2 to 50) over the samples outside the test split "
    "(spec.replicate.folds): each fold held out in turn, every stage from the splits stage "
    "to the metrics stage run again per fold and seed.",
)
@click.option(
    "--jobs",
    "-j",
    default=1,
    show_default=True,
    type=int,
    help="Runs (seeds, folds) side by side; each stage keeps its own thread counts.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Change a params.yaml key for the replicates only (repeatable): --set train.epochs=2. "
    "The summary records it; the project's params.yaml is untouched.",
)
@click.option(
    "--no-labels",
    is_flag=True,
    help="With --folds, skip the label audit (spec.replicate.folds.labels).",
)
@click.option("--force", "-f", is_flag=True, help="Re-run every run, even the up-to-date ones.")
@json_option
@click.pass_obj
def replicate(
    opts: Options,
    seeds: str | None,
    folds: str | None,
    jobs: int,
    overrides: tuple[str, ...],
    no_labels: bool,
    force: bool,
    as_json: bool,
) -> int:
    """Re-run the pipeline's stages per seed, or per fold and seed; show the spread.

    With --seeds: the spec's replicate.stages (pets: train, calibrate, evaluate) once per seed,
    upstream outputs (pets: data/prepared, models/tune) reused; they must be current (run
    `pedigree run` first). With --folds K: grouped nested K-fold cross-validation. The samples
    outside the test split are dealt, whole groups (pets: animals) at a time, into K folds;
    for each fold every stage from the splits stage to the metrics stage (pets: transform, tune,
    train, calibrate, evaluate) runs again with that fold as the scored split and the other
    folds split into train and the inner splits (pets: validation, calibration), so tuning and
    early stopping never see the held-out fold. The test split is used by no fold. Then the
    spec's label audit (pets: confident learning, cleanlab) ranks every image by label quality
    from the out-of-fold predictions into reports/label_issues.csv and .json.

    Runs live in .pedigree/replicate/ and are reused when their lineage records still match.
    The mean, standard deviation (n - 1), min, max and range of every metric (with --folds also
    the 95% Student-t interval of the mean, and the per-fold table) go to
    replicates/summary.json; commit it. A stage that reads it (pets: evaluate's report) re-runs
    on the next `pedigree run`. `pedigree audit` checks every fold's isolation from the records.

    \b
    Examples:
      pedigree replicate --seeds 1,2,3
      pedigree replicate --folds 5
      pedigree replicate --folds 5 --seeds 1,2 --jobs 2
      pedigree replicate --folds 5 --set train.epochs=2 --set tune.epochs=1
      pedigree replicate --seeds 1,2 --force --json
    """
    opts.json = as_json
    k = None if folds is None else parse_folds(folds)
    chosen = None if seeds is None else replicate_api.parse_seeds(seeds, least=1 if k else 2)
    if not as_json:
        what = [] if k is None else [f"{k} folds"]
        if chosen is not None:
            what.append("seeds " + ", ".join(str(s) for s in chosen))
        render.say(f"replicating for {' and '.join(what) or 'the seeds given'}")
    result = replicate_api.replicate(
        opts.project,
        chosen,
        force=force,
        observer=_Progress(as_json),
        folds=k,
        jobs=jobs,
        overrides=overrides,
        labels=not no_labels,
    )
    if as_json:
        render.emit_json(result.to_dict())
        return 0
    reused = [s for s in result.seeds if s.reused]
    if reused:
        names = ", ".join(Run(s.seed, s.fold).label() for s in reused)
        render.say(
            f"reused {len(reused)} of {len(result.seeds)} runs ({names}): results up to date "
            "(--force re-runs)"
        )
    for line in _table(result):
        click.echo(line)
    doc = result.summary.to_dict()
    count = len(doc["runs"])
    render.say(f"std: {STD_KIND}, over {count} runs")
    if "folds" in doc:
        render.say(f"interval: {INTERVAL_KIND}")
        render.say(f"project: {result.metrics_path} (the project's own model, on the test split)")
        for line in _fold_table(doc):
            click.echo(line)
    if result.labels is not None:
        _say_labels(result.labels, bool(doc["replicates"].get("overrides")))
    state = "wrote" if result.changed else "unchanged:"
    render.say(f"{state} {result.path}")
    if result.changed and result.readers:
        readers = ", ".join(result.readers)
        render.say(f"note: commit it; `pedigree run` then re-runs {readers}, which read it")
    elif result.changed:
        render.say("note: commit it (no stage reads it: it records the spread beside the run)")
    return 0
