"""`pedigree submit`, `pedigree status RUN` and `pedigree logs RUN [STAGE]`: runs on a cluster.

Each command parses, calls one `pedigree.api.cluster` function, and renders text or --json.
Errors are PedigreeError subclasses, printed once by `pedigree.cli.main.main`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from pedigree.cli import render
from pedigree.cli.options import CONTEXT, Options, json_option, spec_option
from pedigree.cluster import DEFAULT_NAMESPACE
from pedigree.errors import RunFailedError

if TYPE_CHECKING:
    from pedigree.cluster.runs import Change, RunStatus, StageLog

namespace_option = click.option(
    "--namespace",
    "-n",
    default=None,
    help=f"Namespace of the run (default: {DEFAULT_NAMESPACE}).",
)
context_option = click.option(
    "--context", default=None, help="kubeconfig context to use (default: the current one)."
)


def _ns_flag(namespace: str | None) -> str:
    """The `-n NS` to repeat in hints, only when not the default namespace."""
    return f" -n {namespace}" if namespace and namespace != DEFAULT_NAMESPACE else ""


def duration(seconds: float | None) -> str:
    """5.0s, 3m12s, 1h02m; '-' when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def render_run_status(status: RunStatus) -> list[str]:
    """The lines `pedigree status RUN` prints: the run, then one row per stage."""
    lines = [f"run {status.name} (namespace {status.namespace}): {status.phase}"]
    if status.started_at:
        ended = f"  finished {status.finished_at}" if status.finished_at else ""
        took = f" ({duration(status.duration_s)})" if status.duration_s is not None else ""
        lines.append(f"  started {status.started_at}{ended}{took}")
    params = "  ".join(f"{k} {v}" for k, v in sorted(status.parameters.items()))
    if params:
        lines.append(f"  {params}")
    if status.message:
        lines.append(f"  message: {status.message}")
    if not status.stages:
        lines.append("  no stage has started yet")
        return lines
    width = max(5, *(len(s.name) for s in status.stages))
    lines.append(
        f"  {'STAGE':<{width}}  {'PHASE':<9}  {'STARTED':<20}  {'FINISHED':<20}  "
        f"{'DURATION':>8}  RETRIES  MESSAGE"
    )
    for s in status.stages:
        lines.append(
            f"  {s.name:<{width}}  {s.phase:<9}  {s.started_at or '-':<20}  "
            f"{s.finished_at or '-':<20}  {duration(s.duration_s):>8}  {s.retries:>7}  "
            f"{s.message}".rstrip()
        )
    return lines


def show_run_status(
    opts: Options, run: str, namespace: str | None, context: str | None, as_json: bool
) -> int:
    """`pedigree status RUN`: print the run's status (text or JSON); 0 whatever its phase."""
    opts.json = as_json
    from pedigree.api import cluster as cluster_api

    status = cluster_api.run_status(run, namespace=namespace, context=context)
    if as_json:
        render.emit_json(status.to_dict())
    else:
        for line in render_run_status(status):
            click.echo(line)
    return 0


def _change_line(change: Change, run: str) -> str:
    extras = [f"retry {change.retries}"] if change.retries else []
    extras += [change.message] if change.message else []
    why = f" ({', '.join(extras)})" if extras else ""
    if change.stage is None:
        return f"run {run}: {change.phase}{why}"
    return f"  {change.stage:<12} {change.phase}{why}"


def _watch_and_report(
    run: str, namespace: str, context: str | None, interval: float, as_json: bool
) -> tuple[RunStatus | None, int]:
    """Watch until the run ends; (last status, exit code). Ctrl-C stops the watching only."""
    ns = _ns_flag(namespace)
    try:
        from pedigree.api import cluster as cluster_api

        status = cluster_api.watch(
            run,
            (lambda c: None) if as_json else (lambda c: click.echo(_change_line(c, run))),
            namespace=namespace,
            context=context,
            interval=interval,
        )
    except KeyboardInterrupt:
        render.say(
            f"stopped watching; run {run} goes on in the cluster: pedigree status {run}{ns}",
            err=True,
        )
        return None, 130
    if as_json:
        return status, 0 if status.succeeded else 1
    if status.succeeded:
        took = duration(status.duration_s)
        click.echo(f"done: run {run} succeeded in {took}")
        click.echo(f"  bring the results home: pedigree pull {run}{ns}")
        return status, 0
    failed = status.first_failed()
    where = (
        f"stage '{failed.name}' {failed.phase}: {failed.message or 'no message'}" if failed else ""
    )
    raise RunFailedError(
        run,
        failed.name if failed else None,
        f"run {run} {status.phase.lower()}: {where or status.message or 'no message'}",
        f"pedigree logs {run} {failed.name}{ns}" if failed else f"pedigree status {run}{ns}",
    )


@click.command(context_settings=CONTEXT)
@namespace_option
@context_option
@click.option("--revision", default=None, help="git commit, tag or branch to run (default: HEAD).")
@click.option(
    "--repo",
    default=None,
    help="git URL the cluster clones (default: metadata.repository, else origin); "
    "credentials in it are removed (a private repository's go in the Secret pedigree-git).",
)
@click.option(
    "--folds",
    default=None,
    help="Submit `pedigree replicate --folds K` instead of the pipeline: one pod per fold x "
    "seed (cluster-conf/workflows/<pipeline>-replicate.yaml).",
)
@click.option(
    "--seeds",
    default=None,
    help="With --folds: comma-separated seeds each fold runs with (default: the project's).",
)
@click.option(
    "--watch", "-w", is_flag=True, help="Follow the run until it ends (exit 1 if failed)."
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.0),
    default=5.0,
    show_default=True,
    help="Seconds between polls with --watch.",
)
@spec_option
@json_option
@click.pass_obj
def submit(
    opts: Options,
    namespace: str | None,
    context: str | None,
    revision: str | None,
    repo: str | None,
    folds: str | None,
    seeds: str | None,
    watch: bool,
    interval: float,
    spec: Path | None,
    as_json: bool,
) -> int:
    """Run the pipeline on the cluster (Argo Workflows): create a run, print its name.

    The run is the same object `kubectl create -f cluster-conf/workflows/<pipeline>.yaml`
    creates, with arguments: `revision` (default: your HEAD commit; the cluster checks it out
    from git, so commit and push first) and `repo` (default: the spec's metadata.repository,
    else your `origin` remote). Uses the current kubeconfig context unless --context is given.

    Credentials in the repository URL (`https://user:TOKEN@...`) are never sent to the cluster:
    they are removed, with a warning; a private repository's credentials go in the Secret
    pedigree-git (cluster-conf/README.md, "Private repositories").

    \b
    Examples:
      pedigree submit
      pedigree submit --watch
      pedigree submit --context kind-pedigree --revision v1.2 --repo https://git.example/pets.git
      pedigree submit --folds 5 --seeds 1,2   # grouped nested 5-fold CV, 10 pods in parallel
    """
    opts.json = as_json
    from pedigree.api import cluster as cluster_api

    done = cluster_api.submit(
        opts.project,
        spec=spec,
        namespace=namespace,
        context=context,
        revision=revision,
        repo=repo,
        folds=folds,
        seeds=seeds,
    )
    run, ns = done.run, _ns_flag(done.namespace)
    for warning in done.warnings:
        render.say(f"warning: {warning}", err=True)
    if not as_json:
        click.echo(f"submitted {run} (namespace {done.namespace}, context {done.context})")
        for name, value in done.parameters.items():
            click.echo(f"  {name:<9} {value}")
        if not watch:
            click.echo(f"  status:  pedigree status {run}{ns}")
            click.echo(f"  logs:    pedigree logs {run}{ns} [STAGE]")
            click.echo(f"  results: pedigree pull {run}{ns}  (once it succeeded)")
            return 0
    if not watch:
        render.emit_json(done.to_dict())
        return 0
    status, code = _watch_and_report(run, done.namespace, context, interval, as_json)
    if as_json:
        data = done.to_dict()
        data["status"] = status.to_dict() if status else None
        render.emit_json(data)
    return code


def _heading(log: StageLog) -> str:
    attempt = f" (attempt {log.attempt + 1} of {log.attempts})" if log.attempts > 1 else ""
    pod = f" [pod {log.pod}]" if log.pod else ""
    return f"==> {log.stage}{attempt}{pod} <=="


@click.command(context_settings=CONTEXT)
@click.argument("run")
@click.argument("stage", required=False)
@namespace_option
@context_option
@click.option(
    "--tail", type=click.IntRange(min=1), default=None, help="Only the last N lines of each log."
)
@json_option
@click.pass_obj
def logs(
    opts: Options,
    run: str,
    stage: str | None,
    namespace: str | None,
    context: str | None,
    tail: int | None,
    as_json: bool,
) -> int:
    """Print a cluster run's stage logs: one STAGE, or every stage in run order with headings.

    Logs are read from the stage's pods, which Argo deletes after the pod GC delay (an hour
    after they finish); a retried stage shows every attempt.

    \b
    Examples:
      pedigree logs pets-x7k2q train
      pedigree logs pets-x7k2q --tail 50
    """
    opts.json = as_json
    from pedigree.api import cluster as cluster_api

    found = cluster_api.logs(run, stage, namespace=namespace, context=context, tail=tail)
    if as_json:
        render.emit_json([log.to_dict() for log in found])
        return 0
    for log in found:
        if stage is None or log.attempts > 1 or log.text is None:
            click.echo(_heading(log))
        if log.text is None:
            click.echo(f"(no log: {log.note})")
            continue
        click.echo(log.text, nl=not log.text.endswith("\n"))
    return 0
