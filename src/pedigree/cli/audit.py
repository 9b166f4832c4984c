"""`pedigree audit`: data hygiene checks, one PASS/FAIL line each, exit 1 on any failure.

The command parses, calls `pedigree.api.audit.audit`, and renders text or --json. Errors (no
project, an invalid spec) are PedigreeError subclasses, printed once by `pedigree.cli.main.main`.
"""

from __future__ import annotations

from pathlib import Path

import click

from pedigree.api.audit import CHECKS
from pedigree.api.audit import audit as run_audit
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
      graph-hygiene    each held-out split reaches only the stages spec.data.heldOut
                       allows, model selection only its splits (spec, dvc.yaml, lineage)
      split-leakage    no group (spec.data.splits.groupKey) and no identical image
                       (sha256) in two splits
      normalization    the statistics were computed on exactly the train split
    The split checks need spec.data in the spec; without it they print SKIP and why.
      lineage-records  every dvc.lock stage has a lineage record whose hashes, params and
                       workspace outputs match
      champions        every champion change in the model registry's log passed the
                       gate, or was made by hand with a reason (SKIP without a registry)
      folds            from each fold run's lineage records (`pedigree replicate --folds`):
                       no held-out sample reached tuning, training or calibration, the test
                       split reached no fold, folds are made of whole groups
      labels           the label audit flagged no image above its threshold (WARN by
                       default: spec.replicate.folds.labels.severity)
    Exit codes: 0 every check passed (or only warned), 1 a check failed, 2 user error (no
    project, bad spec).

    \b
    Examples:
      pedigree audit
      pedigree audit --check split-leakage --json
      pedigree audit --check folds
    """
    opts.json = as_json
    report = run_audit(opts.project, spec, only)
    if as_json:
        render.emit_json(report.to_dict())
        return 0 if report.ok else AUDIT_FAILED
    for check in report.checks:
        click.echo(f"{check.status.upper()} {check.name}: {check.summary}")
        if check.skipped:
            click.echo(f"    fix: {check.skipped}")
        for finding in check.findings:
            click.echo(f"  - {finding.where}: {finding.message}")
            click.echo(f"    fix: {finding.fix}")
    total = len(report.checks)
    skipped = report.skipped
    if report.ok:
        ran = total - len(skipped)
        note = f" ({len(skipped)} could not apply: {', '.join(skipped)})" if skipped else ""
        warned = f"; {', '.join(report.warned)} warned" if report.warned else ""
        click.echo(f"audit passed: {ran} of {total} checks{note}{warned}")
        return 0
    failed = report.failed
    click.echo(f"audit failed: {len(failed)} of {total} checks ({', '.join(failed)})")
    return AUDIT_FAILED
