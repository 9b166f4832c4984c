"""`pedigree audit`: data hygiene checks, one PASS/FAIL line each, exit 1 on any failure.

The command parses, calls `pedigree.audit_api.audit`, and renders text or --json. Errors (no
project, an invalid spec) are PedigreeError subclasses, printed once by `pedigree.cli.main.main`.
"""

from __future__ import annotations

from pathlib import Path

import click

from pedigree.audit_api import CHECKS
from pedigree.audit_api import audit as run_audit
from pedigree.cli import render
from pedigree.cli.options import CONTEXT, Options, json_option, spec_option

AUDIT_FAILED = 1


@click.command("audit", context_settings=CONTEXT)
@click.option(
    "--check",
    "only",
    type=click.Choice(CHECKS),
    default=None,
    help="Run only this check.",
)
@spec_option
@json_option
@click.pass_obj
def audit(opts: Options, only: str | None, spec: Path | None, as_json: bool) -> int:
    """Audit data hygiene: leakage between splits, evaluation bias and lineage gaps.

    \b
    Checks:
      graph-hygiene    the test split reaches only evaluate, calibration only calibrate and
                       evaluate, tune only train and validation (spec, dvc.yaml, lineage)
      split-leakage    no animal id and no identical image (sha256) in two splits
      normalization    stats.json was computed on exactly the train split
      lineage-records  every dvc.lock stage has a lineage record whose hashes, params and
                       workspace outputs match
    Exit codes: 0 every check passed, 1 a check failed, 2 user error (no project, bad spec).

    \b
    Examples:
      pedigree audit
      pedigree audit --check split-leakage --json
    """
    opts.json = as_json
    report = run_audit(opts.project, spec, only)
    if as_json:
        render.emit_json(report.to_dict())
        return 0 if report.ok else AUDIT_FAILED
    for check in report.checks:
        click.echo(f"{'PASS' if check.ok else 'FAIL'} {check.name}: {check.summary}")
        for finding in check.findings:
            click.echo(f"  - {finding.where}: {finding.message}")
            click.echo(f"    fix: {finding.fix}")
    total = len(report.checks)
    if report.ok:
        click.echo(f"audit passed: {total} of {total} checks")
        return 0
    failed = report.failed
    click.echo(f"audit failed: {len(failed)} of {total} checks ({', '.join(failed)})")
    return AUDIT_FAILED
