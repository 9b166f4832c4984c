"""`pedigree pull RUN`: restore a cluster run's results here, with no recompute.

Parses, calls `pedigree.api.pull.pull`, renders text or --json. Errors are PedigreeError
subclasses, printed once by `pedigree.cli.main.main`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pedigree.cli import render
from pedigree.cli.options import CONTEXT, Options, json_option

if TYPE_CHECKING:
    from pedigree.api.pull import PhaseLookup

PULL_TEXT = {
    "restored": "restored from the run's cache",
    "skipped": "up to date (outputs pulled)",
    "ran": "ran",  # never: the launcher refuses to run a stage during a pull
    "would-run": "would run",
}


def _phase_lookup() -> PhaseLookup:
    from pedigree.api import cluster as cluster_api

    def phase(run: str, namespace: str, context: str | None) -> str:
        return cluster_api.run_status(run, namespace=namespace, context=context).phase

    return phase


@click.command(context_settings=CONTEXT)
@click.argument("run")
@click.option(
    "--namespace", "-n", default="pedigree", show_default=True, help="The run's namespace."
)
@click.option("--context", default=None, help="kubeconfig context (default: the current one).")
@click.option("--remote", "-r", default=None, help="DVC remote (default: the project's default).")
@click.option("--offline", is_flag=True, help="Do not ask the cluster whether the run succeeded.")
@json_option
@click.pass_obj
def pull(
    opts: Options,
    run: str,
    namespace: str,
    context: str | None,
    remote: str | None,
    offline: bool,
    as_json: bool,
) -> int:
    """Restore run RUN's results from the DVC remote: no stage runs, dvc.lock is updated and the
    cluster's lineage records become current, so `pedigree lineage` and `verify` work on them.

    The checkout must be at the git commit the run used (pull says which). Files for git the
    run's steps wrote (release: the registry's event files and the serving manifest) come home
    byte-identical; commit them with dvc.lock and lineage/ (pull prints the `git add` line).
    Stages marked `stateful` keep state on the cluster and are not pulled. A run of the
    replicate WorkflowTemplate (`<pipeline>-replicate`) brings home replicates/summary.json, the
    label audit's files and every fold run's workspace under .pedigree/replicate/, so a local
    `pedigree replicate --folds K` reuses them and `pedigree audit` checks them.

    \b
    Examples:
      pedigree pull pets-x7k2q
      pedigree pull pets-x7k2q --offline --remote cluster
    """
    from pedigree.api import pull as pull_api

    opts.json = as_json
    progress = render.RunProgress(quiet=True)
    report = pull_api.pull(
        opts.project,
        run,
        progress,
        namespace=namespace,
        context=context,
        remote=remote,
        phase_of=None if offline else _phase_lookup(),
    )
    if as_json:
        render.emit_json(
            {
                "run": report.run,
                "commit": report.commit,
                "stages": [
                    {"stage": r.stage, "outcome": r.outcome, "seconds": round(r.seconds, 3)}
                    for r in report.stages
                ],
                "not_pulled": list(report.not_pulled),
                "records": report.records,
                "files": list(report.files),
                "folders": list(report.folders),
                "warnings": list(report.warnings),
                "git_add": report.git_add,
            }
        )
        return 0
    render.say(f"pulled run {report.run} (git commit {report.commit[:12]})")
    for result in report.stages:
        render.say(f"  {result.stage:<12} {PULL_TEXT[result.outcome]}")
    for stage in report.not_pulled:
        render.say(f"  {stage:<12} not pulled: stateful (or downstream of a stateful stage)")
    for path in report.files:
        render.say(f"  {path}  (written by the run, for git)")
    for path in report.folders:
        render.say(f"  {path}/  (restored from the run's archive)")
    for warning in report.warnings:
        render.say(f"warning: {warning}")
    if report.git_add:
        render.say(f"note: record the cluster's results in git: {report.git_add}")
    return 0
