"""The `pedigree` command line: parse, call one API function, render, return an exit code
(one of `pedigree.errors.ExitCode`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from pedigree import __version__
from pedigree.api import main as api
from pedigree.cli import render
from pedigree.cli.audit import audit
from pedigree.cli.check import check
from pedigree.cli.cluster import context_option, logs, namespace_option, show_run_status, submit
from pedigree.cli.init import init
from pedigree.cli.lineage import lineage
from pedigree.cli.lock import lock
from pedigree.cli.models import models
from pedigree.cli.options import CONTEXT, Options, json_option, spec_option
from pedigree.cli.pull import pull
from pedigree.cli.replicate import replicate
from pedigree.cli.serve import serve
from pedigree.cli.stage import stage
from pedigree.cli.verify import verify
from pedigree.containers import EXECUTORS, PROCESS
from pedigree.envvars import EXECUTOR_ENV
from pedigree.errors import ExitCode, PedigreeError
from pedigree.project import find_root

INTERNAL_ERROR = ExitCode.INTERNAL_ERROR


@click.group(context_settings=CONTEXT)
@click.option(
    "--project",
    "-C",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("."),
    help="Run as if started in this folder (any folder of the project); paths given to the "
    "command (--spec, SPEC_FILE, PATH) are then relative to it.",
)
@click.option(
    "--verbose", "-v", is_flag=True, help="Show stage output live and tracebacks on errors."
)
@click.version_option(__version__, prog_name="pedigree")
@click.pass_context
def cli(ctx: click.Context, project: Path, verbose: bool) -> None:
    """pedigree: a pipeline where every output can be traced, re-run and proven identical.

    \b
    Examples:
      pedigree validate                 # check pipelines/*.yaml
      pedigree run                      # run what is stale, skip the rest
      pedigree status                   # what is stale and why
    """
    opts = ctx.ensure_object(Options)
    # Absolute from here on: every command sees the same folder whatever the working directory
    # (DVC, subprocesses and the API never have to guess what a relative path was relative to).
    opts.project = project.resolve()
    opts.verbose = verbose


cli.add_command(models)
cli.add_command(lineage)
cli.add_command(replicate)
cli.add_command(audit)
cli.add_command(verify)
cli.add_command(submit)
cli.add_command(logs)
cli.add_command(pull)
cli.add_command(init)
cli.add_command(stage)
cli.add_command(lock)
cli.add_command(check)
cli.add_command(serve)


@cli.command(context_settings=CONTEXT)
@click.argument("spec_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@json_option
@click.pass_obj
def validate(opts: Options, spec_file: Path | None, as_json: bool) -> int:
    """Check a pipeline spec and print OK or every problem found.

    \b
    Example:
      pedigree validate pipelines/pets.yaml
    """
    opts.json = as_json
    if spec_file is not None and not spec_file.is_absolute():
        spec_file = opts.project / spec_file  # relative to the folder it runs in (or -C DIR)
    spec = api.validate(spec_file, opts.project)
    if as_json:
        render.emit_json(
            {"ok": True, "pipeline": spec.metadata.name, "stages": [s.name for s in spec.stages]}
        )
    else:
        click.echo(f"OK: pipeline '{spec.metadata.name}' with {len(spec.stages)} stages")
    return 0


@cli.command("compile", context_settings=CONTEXT)
@click.option(
    "--target",
    type=click.Choice(["dvc", "argo", "images", "all"]),
    default="dvc",
    show_default=True,
    help="dvc: dvc.yaml; argo: the Argo WorkflowTemplate and Workflow under cluster-conf/; "
    "images: each stage's images/<stage>/Dockerfile; all: the three.",
)
@click.option(
    "--replicate",
    is_flag=True,
    help="with --target argo: only the WorkflowTemplate and Workflow of `pedigree replicate "
    "--folds` (one pod per fold x seed); needs spec.replicate.folds.",
)
@spec_option
@json_option
@click.pass_obj
def compile_(opts: Options, target: str, replicate: bool, spec: Path | None, as_json: bool) -> int:
    """Generate dvc.yaml, the Argo Workflows files or the stage Dockerfiles from the pipeline spec.

    Deterministic: the same spec gives the same bytes, and unchanged files are left alone.
    With spec.replicate.folds declared, `--target argo` also writes the fold replicate's
    WorkflowTemplate (`<pipeline>-replicate`: plan, one fold-run pod per fold x seed, gather).

    \b
    Examples:
      pedigree compile --target dvc
      pedigree compile --target argo    # cluster-conf/base/workflowtemplate-<pipeline>.yaml
                                        # and cluster-conf/workflows/<pipeline>.yaml
      pedigree compile --target argo --replicate
                                        # only workflowtemplate-<pipeline>-replicate.yaml
                                        # and workflows/<pipeline>-replicate.yaml
      pedigree compile --target images  # images/<stage>/Dockerfile for every stage
      pedigree compile --target all     # all of the above
    """
    opts.json = as_json
    if replicate and target != "argo":
        raise click.UsageError("--replicate goes with --target argo")
    if target == "dvc":
        result = api.compile_dvc(opts.project, spec)
        if as_json:
            render.emit_json(
                {"target": target, "path": str(result.path), "changed": result.changed}
            )
        else:
            click.echo(f"{'wrote' if result.changed else 'up to date:'} {result.path.name}")
        return 0
    results: list[api.CompileResult] = []
    if target == "all":
        results.append(api.compile_dvc(opts.project, spec))
    if target in ("argo", "all"):
        results += api.compile_argo(opts.project, spec, replicate_only=replicate)
    if target in ("images", "all"):
        results += api.compile_images(opts.project, spec)
    root = find_root(opts.project)
    files = [(r.path.relative_to(root).as_posix(), r.changed) for r in results]
    if as_json:
        render.emit_json(
            {
                "target": target,
                "files": [{"path": p, "changed": changed} for p, changed in files],
                "changed": any(changed for _, changed in files),
            }
        )
    else:
        for path, changed in files:
            click.echo(f"{'wrote' if changed else 'up to date:'} {path}")
    return 0


@cli.command(context_settings=CONTEXT)
@click.option(
    "--stage", "-s", default=None, help="Run only this stage (and the stale stages it needs)."
)
@click.option("--force", "-f", is_flag=True, help="Re-run even if up to date.")
@click.option("--dry-run", "-n", is_flag=True, help="Say what would run, run nothing.")
@click.option(
    "--executor",
    "-x",
    type=click.Choice(EXECUTORS),
    default=PROCESS,
    show_default=True,
    envvar=EXECUTOR_ENV,
    help="Where stages run: here (process), or each in its image (podman, docker; "
    "build them with `make images`). Env: PEDIGREE_EXECUTOR.",
)
@spec_option
@json_option
@click.pass_obj
def run(
    opts: Options,
    stage: str | None,
    force: bool,
    dry_run: bool,
    executor: str,
    spec: Path | None,
    as_json: bool,
) -> int:
    """Run the pipeline through DVC: stale stages run, up-to-date ones are skipped.

    Stage output goes to .pedigree/logs/STAGE.log (live with --verbose); when a stage fails the
    last lines of this run's log are shown (or DVC's reason, when the stage never started), and
    its previous outputs are put back: from the DVC cache, and metrics and plots from a copy
    kept before the run. Plain `dvc repro` runs the same pipeline. With --executor podman
    or docker each stage runs in its image (pedigree/STAGE:VERSION) with the project mounted;
    outputs, dvc.lock and the cache are the same as without containers. A run that ran anything
    ends with a table of where the time went: each stage's seconds and share, and the wall time
    (`--json`: `seconds` per stage, `seconds` and `wall_seconds` in all).

    \b
    Examples:
      pedigree run
      pedigree run --stage transform --force
      pedigree run --dry-run
      pedigree run --executor podman
    """
    opts.json = as_json
    progress = render.RunProgress(quiet=as_json or opts.verbose)
    if not as_json:
        where = "" if executor == PROCESS else f" (each stage in its {executor} container)"
        render.say("dry run: nothing is executed" if dry_run else "running pipeline" + where)
    started = time.monotonic()
    try:
        report = api.run(
            opts.project,
            progress,
            spec=spec,
            stage=stage,
            force=force,
            dry_run=dry_run,
            quiet_stages=not opts.verbose,
            executor=executor,
        )
    finally:
        progress.close()
    wall = time.monotonic() - started
    total = sum(r.seconds for r in report.results)
    if as_json:
        render.emit_json(
            {
                "dry_run": report.dry_run,
                "dvc_yaml_regenerated": report.regenerated,
                "dvc_yaml_stale": report.dvc_yaml_stale,
                "stages": [
                    {"stage": r.stage, "outcome": r.outcome, "seconds": round(r.seconds, 3)}
                    for r in report.results
                ],
                "seconds": round(total, 3),  # the stages' own time
                "wall_seconds": round(wall, 3),  # the whole run, pedigree and DVC included
                "warnings": list(report.warnings),
                "git_add": report.git_add,
            }
        )
        return 0
    for warning in report.warnings:
        render.say(f"warning: {warning}")
    if report.regenerated:
        render.say("note: dvc.yaml was regenerated from the spec")
    if report.dvc_yaml_stale:
        render.say(
            "note: dvc.yaml is stale; a real run regenerates it first, so this plan may differ"
        )
    if report.git_add:
        render.say(f"note: record this run in git: {report.git_add}")
    if dry_run:
        if opts.verbose:
            for r in report.results:
                render.say(f"  {r.stage:<12} {render.OUTCOME_TEXT[r.outcome]}")
        count = sum(r.outcome == "would-run" for r in report.results)
        render.say(f"done: would run {count} of {len(report.results)} stages")
        return 0
    count = sum(r.outcome in ("ran", "restored") for r in report.results)
    if count:  # where the time went (nothing ran: nothing to show but the line below)
        for line in render.time_table(report.results, wall):
            render.say(f"  {line}")
    render.say(f"done: ran {count} of {len(report.results)} stages in {total:.1f}s")
    return 0


@cli.command(context_settings=CONTEXT)
@click.argument("run", required=False)
@spec_option
@namespace_option
@context_option
@json_option
@click.pass_obj
def status(
    opts: Options,
    run: str | None,
    spec: Path | None,
    namespace: str | None,
    context: str | None,
    as_json: bool,
) -> int:
    """Say which stages are stale and why (code, environment, params, data, outputs, command).

    With RUN (a name `pedigree submit` printed): the status of that run on the cluster instead,
    with one row per stage (phase, times, retries, message).

    \b
    Examples:
      pedigree status
      pedigree status pets-x7k2q
      pedigree status pets-x7k2q --namespace pedigree --context kind-pedigree --json
    """
    if run is not None:
        return show_run_status(opts, run, namespace, context, as_json)
    if namespace or context:
        raise click.UsageError("--namespace and --context apply to a cluster run: status RUN")
    opts.json = as_json
    stages = api.status(opts.project, spec)
    if as_json:
        render.emit_json(
            {
                "stages": [s.to_dict() for s in stages],
                "up_to_date": not any(s.stale for s in stages),
            }
        )
        return 0
    for item in stages:
        if not item.stale:
            click.echo(f"{item.stage}: up to date")
            continue
        click.echo(f"{item.stage}: stale")
        for reason in item.reasons:
            click.echo(f"    {reason.render()}")
    if not any(s.stale for s in stages):
        click.echo("everything is up to date")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and map every outcome to a documented exit code.

    When the reader of our output goes away (`pedigree status | head -1`, `... --json | head`),
    the command ends quietly with exit 141 (128 + SIGPIPE, as any Unix tool killed by SIGPIPE):
    nothing on stderr, no traceback. Output is flushed here, inside the handler, so a pipe closed
    before the interpreter's final flush is caught too.
    """
    try:
        code = _run(argv)
        sys.stdout.flush()
        sys.stderr.flush()
        return code
    except BrokenPipeError:
        # Raised by a write to our own stdout/stderr (a broken pipe to a child process is an
        # internal error, reported in _run): say nothing more, there is nobody to tell.
        render.silence_closed_output()
        return render.BROKEN_PIPE_EXIT


def _run(argv: list[str] | None) -> int:
    """Run the CLI; every outcome but a closed output becomes an exit code here."""
    args = sys.argv[1:] if argv is None else argv
    verbose = any(a in ("-v", "--verbose") for a in args)
    opts = Options()
    try:
        with cli.make_context("pedigree", list(args), obj=opts) as ctx:
            code = cli.invoke(ctx)
        return int(code or 0)
    except PedigreeError as exc:
        if verbose:
            render.print_traceback()
        render.render_error(exc)  # stderr first: it still arrives when stdout is closed
        if opts.json:
            render.emit_json(render.error_json(exc))
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort):
        render.say("interrupted", err=True)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - last resort: a bug must still end in one clear line
        if isinstance(exc, BrokenPipeError) and render.output_closed():
            raise  # nobody reads our output any more: main() ends quietly
        if verbose:
            render.print_traceback()
        render.say(f"internal error: {type(exc).__name__}: {exc}", err=True)
        render.say(
            "hint: this is a bug in pedigree; run again with --verbose and report the traceback",
            err=True,
        )
        return INTERNAL_ERROR
