"""`pedigree stage add`: grow a project by one stage."""

from __future__ import annotations

from pathlib import Path

import click

from pedigree.api import stage as stage_api
from pedigree.cli import render
from pedigree.cli.options import CONTEXT, Options, json_option, spec_option


@click.group(context_settings=CONTEXT)
def stage() -> None:
    """Add stages to the pipeline.

    \b
    Example:
      pedigree stage add features --after hello
    """


@stage.command("add", context_settings=CONTEXT)
@click.argument("name")
@click.option(
    "--after", default=None, help="Insert after this stage and read its outs (default: last)."
)
@spec_option
@json_option
@click.pass_obj
def add(opts: Options, name: str, after: str | None, spec: Path | None, as_json: bool) -> int:
    """Add stage NAME: its spec entry (comments kept), stages/NAME/ skeleton, params section,
    images/NAME/requirements.in and lock; then recompile dvc.yaml. Existing files are kept.

    \b
    Examples:
      pedigree stage add report
      pedigree stage add features --after load
    """
    opts.json = as_json
    report = stage_api.add_stage(opts.project, name, after, spec)
    if as_json:
        render.emit_json(
            {
                "stage": report.stage,
                "spec": report.spec_path,
                "deps": list(report.deps),
                "created": list(report.written.created),
                "kept": list(report.written.kept),
                "edited": list(report.edited),
            }
        )
        return 0
    for rel in report.edited:
        click.echo(f"edited  {rel}")
    for rel in report.written.created:
        click.echo(f"created {rel}")
    for rel in report.written.kept:
        click.echo(f"kept    {rel} (exists)")
    click.echo(f"next: edit stages/{name}/__main__.py, then `pedigree run`")
    return 0
