"""`pedigree check`: is every generated file, lock and serving manifest in sync with its source?

Parses, calls `pedigree.api.check.check`, renders text or --json. Errors are PedigreeError
subclasses, turned into exit codes by `pedigree.cli.main`.
"""

from __future__ import annotations

from pathlib import Path

import click

from pedigree.api import check as check_api
from pedigree.cli import render
from pedigree.cli.options import CONTEXT, Options, json_option, spec_option
from pedigree.errors import ExitCode


@click.command(context_settings=CONTEXT)
@spec_option
@click.option(
    "--no-env", is_flag=True, help="Skip comparing the running environment with the lock."
)
@json_option
@click.pass_obj
def check(opts: Options, spec: Path | None, no_env: bool, as_json: bool) -> int:
    """Fail (exit 3) when a generated file is stale, the locks disagree with each other or the
    .venv, or the serving manifest does not serve the registry's champion; bad params or spec: 2.

    \b
    Example:
      pedigree check && git commit -am "pipeline change"
    """
    opts.json = as_json
    report = check_api.check(opts.project, spec, environment=not no_env)
    if as_json:
        render.emit_json(
            {
                "ok": report.ok,
                "checks": [
                    {
                        "name": i.name,
                        "ok": i.ok,
                        "message": i.message,
                        "hint": i.hint,
                        "details": list(i.details),
                    }
                    for i in report.items
                ],
            }
        )
    else:
        for item in report.items:
            click.echo(f"{'ok  ' if item.ok else 'FAIL'} {item.name}: {item.message}")
            for detail in item.details:
                click.echo(f"       {detail}")
            if item.hint and not item.ok:
                click.echo(f"       fix: {item.hint}")
    return ExitCode.OK if report.ok else ExitCode.OUT_OF_SYNC
