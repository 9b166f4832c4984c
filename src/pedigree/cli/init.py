"""`pedigree init`: start a runnable one-stage project."""

from __future__ import annotations

from pathlib import Path

import click

from pedigree.api import init as init_api
from pedigree.cli import render
from pedigree.cli.options import CONTEXT, Options, json_option
from pedigree.scaffold.files import DEFAULT_STAGE


@click.command(context_settings=CONTEXT)
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@click.option("--name", default=None, help="Pipeline name (default: from the folder's name).")
@click.option(
    "--stage",
    "stage",
    default=DEFAULT_STAGE,
    show_default=True,
    help="Name of the first stage (stages/STAGE/, images/STAGE/).",
)
@json_option
@click.pass_obj
def init(opts: Options, directory: Path | None, name: str | None, stage: str, as_json: bool) -> int:
    """Make DIRECTORY (default: here) a runnable project: pipelines/NAME.yaml with one stage,
    stages/, params.yaml, images/ with locks, .gitignore, .dvcignore, `git init` and `dvc init`
    when missing. Never overwrites: an existing file is kept and listed.

    \b
    Examples:
      pedigree init my-project && cd my-project && pedigree run
      pedigree init . --name churn --stage load
    """
    opts.json = as_json
    target = directory if directory is not None else Path(".")
    if not target.is_absolute():
        target = opts.project / target
    report = init_api.init_project(target, name, stage)
    if as_json:
        render.emit_json(
            {
                "root": str(report.root),
                "pipeline": report.pipeline,
                "created": list(report.written.created),
                "kept": list(report.written.kept),
                "ran": list(report.ran),
            }
        )
        return 0
    for rel in report.written.created:
        click.echo(f"created {rel}")
    for rel in report.written.kept:
        click.echo(f"kept    {rel} (exists)")
    for tool in report.ran:
        click.echo(f"ran     {tool}")
    if not report.written.created and not report.ran:
        click.echo("nothing to do: the project is already initialised")
    click.echo(f"next: cd {report.root} && pedigree run && git add -A && git commit -m start")
    return 0
