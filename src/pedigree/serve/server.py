"""Run the model server: a serve bundle's model behind KServe's V2 REST endpoints.

`run` is what `pedigree serve` and the serving image (`python -m pedigree.serve`) call. It
loads the model first (every file checked against its hash, the predictor loaded and warmed
up), so a model that cannot be served stops it before it listens; then it binds the socket
(a port in use is a ServeError, not a traceback) and serves until SIGINT or SIGTERM.

What the server answers, from KServe's model server (REST only, one process): `/v2/health/live`,
`/v2/health/ready`, `/v2`, `/v2/models`, `/v2/models/<pipeline>`, `.../ready`, `.../infer`,
and `/metrics` (Prometheus). KServe's model repository endpoints (`/v2/repository/...`, which
would let any client unload the model) and V1 endpoints are left out. 4xx answers are logged
as one line, without a traceback; every response carries the `x-pedigree-*` headers.

This module imports KServe only when `run` is called: `Limits` is cheap to import.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pedigree.bundle import ServeBundle
from pedigree.errors import ServeError
from pedigree.serve.limits import Limits

__all__ = ["DEFAULT_LIMITS", "Limits", "run"]

DEFAULT_LIMITS = Limits()
GRACE_SECONDS = 10  # in-flight requests may finish this long after SIGTERM


def run(
    bundle: ServeBundle,
    files: Mapping[str, Path],
    code_root: Path,
    host: str,
    port: int,
    on_ready: Callable[[str], None] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> None:
    """Serve `bundle` on `host`:`port` until SIGINT (KeyboardInterrupt) or SIGTERM (returns).

    `files` maps each of the bundle's roles to a local copy (checked here against its hashes),
    `code_root` is the folder holding the predictor module (put first on sys.path). Port 0
    picks a free port. `on_ready(url)` is called once, on the server's event loop (keep it
    short), when `/v2/health/ready` answers 200; a wildcard host (0.0.0.0, ::) is named as
    the loopback address in the URL. ServeError when the model cannot be served or the
    address cannot be bound; nothing is listening then.
    """
    _configure_logging()
    from pedigree.serve.model import ServedModel

    model = ServedModel(bundle, files, code_root, limits)
    model.load()
    listener = _listen(host, port)
    try:
        _serve(model, bundle, limits, listener, host, on_ready)
    finally:
        listener.close()


def _listen(host: str, port: int) -> socket.socket:
    """A bound, listening socket (ServeError when the address cannot be had)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc}", "check --host") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ServeError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            "pick another --port, or stop what is using it",
        ) from None
    return sock


def _url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def _configure_logging() -> None:
    """KServe's log format for KServe, uvicorn and pedigree.serve, unless already set up."""
    from pedigree.serve._kserve import kserve_logging

    if logging.getLogger("kserve").handlers:
        return
    config = copy.deepcopy(kserve_logging.KSERVE_LOG_CONFIG)
    # Every log line on stderr: stdout is for results (`pedigree serve --json`'s ready line).
    for handler in config["handlers"].values():
        handler["stream"] = "ext://sys.stderr"
    config["loggers"]["pedigree.serve"] = {
        "handlers": ["kserve"],
        "level": "INFO",
        "propagate": False,
    }
    kserve_logging.configure_logging(config)


def _serve(
    model: Any,
    bundle: ServeBundle,
    limits: Limits,
    listener: socket.socket,
    host: str,
    on_ready: Callable[[str], None] | None,
) -> None:
    from pedigree.serve.app import PedigreeModelServer

    server = PedigreeModelServer(bundle, limits, grace_seconds=GRACE_SECONDS)
    with _sigterm_returns():
        server.serve(model, listener, _url(host, listener), on_ready)


@contextlib.contextmanager
def _sigterm_returns() -> Iterator[None]:
    """While serving in the main thread, make SIGTERM end `run` by returning.

    uvicorn catches SIGTERM, shuts down gracefully, then raises the signal again; with the
    default handler that would kill the process instead of letting it exit cleanly. SIGINT
    keeps Python's default: `run` ends in KeyboardInterrupt, as a Ctrl-C anywhere else does.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread gets signals (uvicorn leaves them alone then too)
        return
    saved = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, saved)
