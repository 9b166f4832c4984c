"""`pedigree lineage PATH`: where an output came from, back to the raw source.

Parses, calls `pedigree.api.lineage.lineage`, prints the rendering. Errors are PedigreeError
subclasses, printed once by `pedigree.cli.main.main`.
"""

from __future__ import annotations

import sys

import click

from pedigree.api import lineage as lineage_api
from pedigree.cli.options import CONTEXT, Options, json_option


@click.command("lineage", context_settings=CONTEXT)
@click.argument("path")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(lineage_api.FORMATS),
    default="tree",
    show_default=True,
    help="tree: readable text; json: every step in full; openlineage: run events (JSON Lines); "
    "prov: W3C PROV-JSON; dot: Graphviz.",
)
@json_option
@click.pass_obj
def lineage(opts: Options, path: str, fmt: str, as_json: bool) -> int:
    """Print the upstream lineage of PATH: every stage run back to the raw source.

    PATH is an output of a stage, or a path inside an output folder. For each run: stage, run
    id, times, code (git commit, dirty flag, code folder hashes), environment (python, lock hash,
    key packages), params, and inputs -> outputs with their DVC hashes. --json is --format json.

    OpenLineage events are also emitted as stages run: to .pedigree/lineage/openlineage.jsonl,
    and to $OPENLINEAGE_URL (e.g. Marquez; endpoint $OPENLINEAGE_ENDPOINT, default
    api/v1/lineage, key $OPENLINEAGE_API_KEY) when set.

    \b
    Examples:
      pedigree lineage models/model.keras
      pedigree lineage data/prepared/test --format json
      pedigree lineage models/model.keras --format openlineage > events.jsonl
      pedigree lineage models/model.keras --format dot | dot -Tsvg > lineage.svg
    """
    opts.json = as_json
    view = lineage_api.lineage(opts.project, path, "json" if as_json else fmt)
    sys.stdout.write(view.text)
    return 0
