"""`pedigree lock`: compile the hash-pinned environment locks with uv."""

from __future__ import annotations

from pathlib import Path

import click

from pedigree.api import lock as lock_api
from pedigree.cli import render
from pedigree.cli.options import CONTEXT, Options, json_option, spec_option


@click.command("lock", context_settings=CONTEXT)
@click.argument("stages", nargs=-1)
@click.option(
    "--extra",
    "extras",
    multiple=True,
    help="An optional-dependency group of pyproject.toml to add to the combined lock.",
)
@click.option(
    "--uv",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The uv executable (default: the one beside this Python, else on PATH).",
)
@spec_option
@json_option
@click.pass_obj
def lock(
    opts: Options,
    stages: tuple[str, ...],
    extras: tuple[str, ...],
    uv: Path | None,
    spec: Path | None,
    as_json: bool,
) -> int:
    """Compile images/requirements.lock, then each stage's images/STAGE/requirements.lock
    constrained by it (all stages, or STAGES), then images/base's locks; hash-pinned, with
    `uv pip compile --generate-hashes` (needs the package index).

    \b
    Examples:
      pedigree lock                 # every lock
      pedigree lock features        # the combined lock and stage features
      pedigree lock --extra dev     # with pyproject.toml's dev extra in the combined lock
    """
    opts.json = as_json
    results = lock_api.lock(opts.project, stages, spec, extras, uv)
    if as_json:
        render.emit_json({"locks": [{"path": r.path, "inputs": list(r.inputs)} for r in results]})
        return 0
    for result in results:
        click.echo(f"locked {result.path} from {', '.join(result.inputs)}")
    return 0
