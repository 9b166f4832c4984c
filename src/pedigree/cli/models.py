"""`pedigree models`: list, show, get, promote, roll back and import the registry's models.

Each command parses, calls one `pedigree.api.models` function, and renders text or --json.
Errors are PedigreeError subclasses, printed once by `pedigree.cli.main.main`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pedigree.api import models as models_api
from pedigree.cli import render
from pedigree.cli.options import CONTEXT, Options, json_option

if TYPE_CHECKING:
    from pedigree.registry.records import Event, ModelVersion

SHORT_SHA = 12
GIT_HINT = (
    "commit and push the registry's new event file and the serving manifest: the cluster "
    "follows git (cluster-conf/ is synced by Argo CD)"
)

registry_option = click.option(
    "--registry",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Registry folder (default: release.registry in params.yaml, else registry).",
)
reason_option = click.option(
    "--reason", default="", help="Why; recorded in the registry's history with your user name."
)


def _start(ctx: click.Context, as_json: bool) -> Path:
    opts: Options | None = ctx.find_root().obj
    if opts is None:
        return Path(".")
    opts.json = as_json
    return Path(opts.project)


def _metric(metrics: dict[str, Any], *path: str) -> str:
    value: Any = metrics
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return "-"
        value = value[key]
    return f"{value:.4f}" if isinstance(value, int | float) else str(value)


def _commit(version: ModelVersion) -> str:
    if not version.git_commit:
        return "-"
    return version.git_commit[:10] + ("+dirty" if version.git_dirty else "")


def _status(version: ModelVersion) -> str:
    return "* champion" if version.status == "champion" else f"  {version.status}"


CHANGE_NAMES = {
    "promoted": "promotion",
    "manual-promote": "manual promotion",
    "rolled-back": "rollback",
}


def superseded_line(event: Event) -> str:
    """Why a champion change in the log changed nothing when replayed."""
    change = CHANGE_NAMES.get(event.kind, event.kind)
    was = "" if event.previous_champion is None else f" from v{event.previous_champion}"
    return (
        f"superseded: v{event.version}'s {change}{was} by {event.actor} at {event.at} no longer "
        f"held (champion had changed); {event.file}"
    )


@click.group(context_settings=CONTEXT)
def models() -> None:
    """The model registry: list released models, inspect one, promote or roll back the champion.

    The registry is a log of event files in the repository (release.registry in params.yaml):
    commit them with the run. Promoting or rolling back adds an event and rewrites
    cluster-conf/serving/<pipeline>.yaml for the new champion, under the registry's lock;
    `manifest` rewrites it for the champion as it is.

    \b
    Examples:
      pedigree models list
      pedigree models show v3
      pedigree models get v3 -o /tmp/v3/model.keras
      pedigree models promote v2 --reason "v3 regressed on cats"
      pedigree models rollback --reason "bad predictions in production"
      pedigree models manifest
      pedigree models import .pedigree/registry
    """


@models.command("list", context_settings=CONTEXT)
@registry_option
@json_option
@click.pass_context
def list_(ctx: click.Context, registry: Path | None, as_json: bool) -> int:
    """List every registered model version; the champion is marked with '*'.

    Champion changes that no longer held when the log was replayed (two merged branches
    promoted different models from the same champion) are listed below as superseded.

    \b
    Example:
      pedigree models list --json
    """
    result = models_api.list_models(_start(ctx, as_json), registry)
    if as_json:
        render.emit_json(result.to_dict())
        return 0
    if not result.versions:
        click.echo(f"no models registered yet in {result.registry}")
        return 0
    rows = [("VERSION", "  STATUS", "SHA256", "MEAN_IOU", "ECE(CAL)", "REGISTERED", "COMMIT")]
    for v in result.versions:
        rows.append(
            (
                f"v{v.version}",
                _status(v),
                v.model_sha256[:SHORT_SHA],
                _metric(v.metrics, "mean_iou"),
                _metric(v.metrics, "ece", "calibrated"),
                v.registered_at,
                _commit(v),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for event in result.superseded:
        click.echo(superseded_line(event))
    return 0


def _event_line(event: Event) -> str:
    was = "" if event.previous_champion is None else f" (champion was v{event.previous_champion})"
    note = f": {event.note}" if event.note else ""
    line = f"{event.at}  #{event.id} {event.kind} v{event.version} by {event.actor}{was}{note}"
    return line + (" [superseded: the champion had changed]" if event.superseded else "")


@models.command(context_settings=CONTEXT)
@click.argument("version")
@registry_option
@json_option
@click.pass_context
def show(ctx: click.Context, version: str, registry: Path | None, as_json: bool) -> int:
    """Show every field of one version, its scores per test split, and its history.

    \b
    Example:
      pedigree models show v3
    """
    detail = models_api.show_model(_start(ctx, as_json), version, registry)
    if as_json:
        render.emit_json(detail.to_dict())
        return 0
    v = detail.version
    click.echo(f"v{v.version}  {v.status}")
    fields = [
        ("model sha256", v.model_sha256),
        ("model file", _file_line(v.files.get("model"))),
        ("calibration", _file_line(v.files.get("calibration"))),
        ("registered at", v.registered_at),
        ("git commit", f"{v.git_commit or '-'}{' (dirty)' if v.git_dirty else ''}"),
        ("test split", v.test_split_sha256),
    ]
    for name, value in fields:
        click.echo(f"  {name + ':':<15}{value}")
    for title, data in (
        ("calibration", v.calibration),
        ("metrics", v.metrics),
        ("environment", v.environment),
        ("lineage", v.lineage),
    ):
        click.echo(f"  {title}:")
        _echo_tree(data, "    ")
    click.echo("  scores per test split:")
    for split, metrics in v.scores.items():
        click.echo(f"    {split}:")
        _echo_tree(metrics, "      ")
    click.echo("  history:")
    for event in detail.history:
        click.echo(f"    {_event_line(event)}")
        for reason in event.reasons:
            click.echo(
                f"      {'pass' if reason.passed else 'FAIL'} {reason.check}: {reason.message}"
            )
    return 0


def _file_line(record: dict[str, Any] | None) -> str:
    """A recorded file: its project path, DVC md5 and sha256 (what `get` fetches it by)."""
    if not record:
        return "-"
    return (
        f"{record.get('path') or '?'}  md5 {record.get('md5') or '-'}  "
        f"sha256 {record.get('sha256') or '-'}"
    )


def _echo_tree(data: Any, indent: str) -> None:
    if not isinstance(data, dict) or not data:
        click.echo(f"{indent}{data if data not in ({}, None) else '-'}")
        return
    for key in sorted(data):
        value = data[key]
        if isinstance(value, dict) and value:
            click.echo(f"{indent}{key}:")
            _echo_tree(value, indent + "  ")
        else:
            click.echo(f"{indent}{key}: {value}")


@models.command(context_settings=CONTEXT)
@click.argument("version")
@reason_option
@registry_option
@json_option
@click.pass_context
def promote(
    ctx: click.Context, version: str, reason: str, registry: Path | None, as_json: bool
) -> int:
    """Make VERSION the champion by hand (overrides the release gate) and rewrite its manifest.

    \b
    Example:
      pedigree models promote v2 --reason "v3 regressed on cats"
    """
    change = models_api.promote(_start(ctx, as_json), version, reason, registry)
    was = "none" if change.before is None else f"v{change.before.version}"
    return _show_change(
        change, as_json, f"promoted v{change.after.version} to champion (was {was})"
    )


@models.command(context_settings=CONTEXT)
@reason_option
@registry_option
@json_option
@click.pass_context
def rollback(ctx: click.Context, reason: str, registry: Path | None, as_json: bool) -> int:
    """Demote the champion (status rolled-back) and restore the champion before it.

    Repeated rollbacks walk further back. The serving manifest is rewritten for the restored one.

    \b
    Example:
      pedigree models rollback --reason "bad predictions in production"
    """
    change = models_api.rollback(_start(ctx, as_json), reason, registry)
    demoted = "none" if change.before is None else f"v{change.before.version}"
    return _show_change(
        change, as_json, f"rolled back {demoted}; champion is now v{change.after.version}"
    )


@models.command(context_settings=CONTEXT)
@registry_option
@json_option
@click.pass_context
def manifest(ctx: click.Context, registry: Path | None, as_json: bool) -> int:
    """Rewrite the serving manifest for the current champion; the registry is not changed.

    The repair for `pedigree check` reporting a manifest that serves another model than the
    registry's champion.

    \b
    Example:
      pedigree models manifest && git add cluster-conf/serving
    """
    change = models_api.write_manifest(_start(ctx, as_json), registry)
    return _show_change(change, as_json, f"champion is v{change.after.version}")


def _show_change(change: models_api.ChampionChange, as_json: bool, summary: str) -> int:
    """What a promotion or rollback did: JSON, or the summary, the manifest and what to do."""
    if as_json:
        render.emit_json(change.to_dict())
        return 0
    click.echo(summary)
    click.echo(f"wrote {change.manifest}")
    click.echo(GIT_HINT)
    return 0


@models.command(context_settings=CONTEXT)
@click.argument("version")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the model (default: ./v<N>-<its file name>).",
)
@click.option(
    "--calibration/--no-calibration",
    default=True,
    show_default=True,
    help="Also write the version's calibration next to the model, as <name>.calibration.json.",
)
@click.option("--remote", default=None, help="DVC remote to fetch from (default: DVC's default).")
@registry_option
@json_option
@click.pass_context
def get(
    ctx: click.Context,
    version: str,
    output: Path | None,
    calibration: bool,
    remote: str | None,
    registry: Path | None,
    as_json: bool,
) -> int:
    """Fetch VERSION's model (and calibration) by its recorded DVC hash, verified by sha256.

    The files come from the project's DVC cache, else the DVC remote (into the cache, as
    `dvc fetch` would). A missing file or a sha256 that differs from the registry's is an error
    (exit 2) and nothing is written; DVC failing to reach the remote is exit 4.

    \b
    Example:
      pedigree models get v3 -o /tmp/v3/model.keras
      (writes /tmp/v3/model.keras and /tmp/v3/model.calibration.json)
    """
    result = models_api.get_model(
        _start(ctx, as_json), version, output, calibration, registry, remote
    )
    if as_json:
        render.emit_json(result.to_dict())
        return 0
    for item in result.files:
        source = f"DVC {item.source}" if item.source in ("cache", "remote") else item.source
        click.echo(
            f"wrote {item.path} (v{result.version.version} {item.role}, from the {source}, "
            f"sha256 {item.sha256[:SHORT_SHA]} verified)"
        )
    return 0


@models.command("import", context_settings=CONTEXT)
@click.argument("source", type=click.Path(path_type=Path))
@registry_option
@json_option
@click.pass_context
def import_(ctx: click.Context, source: Path, registry: Path | None, as_json: bool) -> int:
    """Turn an old SQLite registry (its folder or registry.sqlite) into event files, once.

    Versions, numbers, statuses, the champion and the history (who, when, why) are kept; the
    old registry is only read. The project's registry must have no events yet.

    \b
    Example:
      pedigree models import .pedigree/registry && git add registry
    """
    result = models_api.import_registry(_start(ctx, as_json), source, registry)
    if as_json:
        render.emit_json(result.to_dict())
        return 0
    champion = result.state.champion
    click.echo(
        f"imported {len(result.state.versions)} versions ({len(result.events)} events) from "
        f"{result.source} into {result.registry}; champion "
        + ("none" if champion is None else f"v{champion.version}")
    )
    click.echo("commit the registry's events/ folder with git")
    return 0
