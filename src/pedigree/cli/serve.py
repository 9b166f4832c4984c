"""`pedigree serve`: answer Open Inference Protocol (V2) requests with a released model, here.

Parses, calls `pedigree.api.serve.serve`, prints one line when the server is ready (the URL,
for people and scripts) and one when it stops. Errors are PedigreeError subclasses, printed
once by `pedigree.cli.main.main`.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pedigree.cli import render
from pedigree.cli.options import CONTEXT, Options, json_option
from pedigree.errors import ExitCode

if TYPE_CHECKING:
    from collections.abc import Callable

    from pedigree.api.serve import Serving

SHORT_SHA = 12
DEFAULT_HOST = "127.0.0.1"  # pedigree.api.serve's defaults, without importing it at start-up
DEFAULT_PORT = 8080


def ready_line(serving: Serving) -> str:
    """The line printed when the server answers: what it serves and where."""
    bundle = serving.bundle
    return (
        f"serving {bundle.pipeline} {bundle.version_label} (model sha256 "
        f"{bundle.model_sha256[:SHORT_SHA]}...) at {serving.url} (Ctrl-C stops)"
    )


def _announce(as_json: bool) -> Callable[[Serving], None]:
    def announce(serving: Serving) -> None:
        # one line, flushed (click.echo flushes): a script reads it from a pipe when it comes
        if as_json:
            click.echo(json.dumps(serving.to_dict(), sort_keys=True))
        else:
            render.say(ready_line(serving))

    return announce


@click.command(context_settings=CONTEXT)
@click.option(
    "--version",
    "version",
    default=None,
    help="Registered version to serve: vN, N or champion (default: the champion).",
)
@click.option(
    "--model",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Serve this model file; the registry must know it by its sha256.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on; 0 picks a free one (the ready line says which).",
)
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Address to listen on (0.0.0.0: every interface).",
)
@click.option("--remote", default=None, help="DVC remote to fetch from (default: DVC's default).")
@click.option(
    "--registry",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Registry folder (default: release.registry in params.yaml, else registry).",
)
@json_option
@click.pass_obj
def serve(
    opts: Options,
    version: str | None,
    model: Path | None,
    port: int,
    host: str,
    remote: str | None,
    registry: Path | None,
    as_json: bool,
) -> int:
    """Serve a released model over the Open Inference Protocol (V2 REST), until Ctrl-C.

    Serves the registry's champion, another registered version (--version), or a local model
    file the registry knows by its sha256 (--model; a model with no pedigree is refused). Every
    file the pipeline's predictor reads (spec.serve) is fetched by its recorded hash into a
    private temporary folder and checked before the server reports ready; a file that is not
    the recorded bytes stops it (exit 2). With --json the ready line is one JSON object (url,
    pipeline, version, model_sha256, files). docs/serving.md shows the requests.

    \b
    Examples:
      pedigree serve
      pedigree serve --version v2 --port 9000
      pedigree serve --model models/model.keras --port 0 --json
      curl -s localhost:8080/v2/health/ready
    """
    from pedigree.api import serve as serve_api

    opts.json = as_json
    if version is not None and model is not None:
        raise click.UsageError("--version and --model are exclusive: give one of them")
    if model is not None and not model.is_absolute():
        model = opts.project / model  # relative to the folder it runs in (or -C DIR)
    # Ctrl-C (or SIGTERM) is how a server is meant to stop: not an error
    with contextlib.suppress(KeyboardInterrupt):
        serve_api.serve(
            opts.project,
            version=version,
            model=model,
            host=host,
            port=port,
            registry=registry,
            remote=remote,
            on_ready=_announce(as_json),
        )
    render.say("stopped serving", err=True)
    return ExitCode.OK
