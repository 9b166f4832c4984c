"""`pedigree replicate`: train, calibrate and evaluate once per seed and show the spread.

Parses, calls `pedigree.api.replicate.replicate`, and renders a table or --json. Errors are
PedigreeError subclasses, printed once by `pedigree.cli.main.main`.
"""

from __future__ import annotations

import click

from pedigree.api import replicate as replicate_api
from pedigree.cli import render
from pedigree.cli.options import CONTEXT, Options, json_option
from pedigree.replicate.stats import STD_KIND

COLUMNS = ("metric", "mean", "std", "min", "max", "range")


class _Progress:
    """One line per stage of each seed, as it finishes."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def stage_finished(self, seed: int, result: replicate_api.StageOutcome) -> None:
        if self.quiet:
            return
        if result.outcome == "reused":
            render.say(f"  seed {seed}: {result.stage:<10} reused (up to date in its workspace)")
        else:
            render.say(f"  seed {seed}: {result.stage:<10} ran in {result.seconds:.1f}s")


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6f}"


def _table(result: replicate_api.ReplicateResult) -> list[str]:
    metrics = result.summary.to_dict()["metrics"]
    rows = [COLUMNS]
    for key, spread in metrics.items():
        rows.append((key, *(_cell(spread[c]) for c in COLUMNS[1:])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


@click.command(context_settings=CONTEXT)
@click.option(
    "--seeds",
    required=True,
    help="Comma-separated seeds (the spec's replicate.seed param), at least two: 1,2,3.",
)
@click.option("--force", "-f", is_flag=True, help="Re-run every seed, even the up-to-date ones.")
@json_option
@click.pass_obj
def replicate(opts: Options, seeds: str, force: bool, as_json: bool) -> int:
    """Re-run the spec's replicate.stages once per seed, reusing all upstream; show the spread.

    The spec says what to re-run and which param is the seed (pets: train, calibrate and
    evaluate; determinism.seed). Each seed runs in .pedigree/replicate/seed-N/ with that param
    set to N; upstream outputs (pets: data/prepared, models/tune) are reused and must be current
    (run `pedigree run` first).
    A seed already replicated from the same upstream, params and code is reused. The mean,
    standard deviation (sample, n - 1), min, max and range of every evaluation metric go to
    replicates/summary.json; commit it. A stage that lists it in its deps (pets: evaluate, whose
    report shows the spread) re-runs on the next `pedigree run`.

    \b
    Examples:
      pedigree replicate --seeds 1,2,3
      pedigree replicate --seeds 1,2,3 --json
      pedigree replicate --seeds 1,2 --force
    """
    opts.json = as_json
    chosen = replicate_api.parse_seeds(seeds)
    if not as_json:
        listed = ", ".join(str(s) for s in chosen)
        render.say(f"replicating for seeds {listed}")
    result = replicate_api.replicate(opts.project, chosen, force=force, observer=_Progress(as_json))
    if as_json:
        render.emit_json(result.to_dict())
        return 0
    reused = [str(s.seed) for s in result.seeds if s.reused]
    if reused:
        render.say(f"reused seed(s) {', '.join(reused)}: results up to date (--force re-runs)")
    for line in _table(result):
        click.echo(line)
    count = len(result.summary.seeds)
    render.say(f"std: {STD_KIND}, over {count} seeds")
    state = "wrote" if result.changed else "unchanged:"
    render.say(f"{state} {result.path}")
    if result.changed and result.readers:
        readers = ", ".join(result.readers)
        render.say(f"note: commit it; `pedigree run` then re-runs {readers}, which read it")
    elif result.changed:
        render.say("note: commit it (no stage reads it: it records the spread beside the run)")
    return 0
