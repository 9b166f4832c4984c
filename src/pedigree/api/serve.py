"""The API behind `pedigree serve`: serve a registered model locally, exactly as released.

Which model: a registered version (`--version`, the champion by default) or a local model file
(`--model PATH`) that the registry knows by its sha256; a file with no pedigree is refused. The
serve bundle (`pedigree.registry.bundle.bundle_for_version`) names every file the pipeline's
predictor reads by its content hash; each is fetched into a private temporary folder (DVC cache,
else the DVC remote, else git), verified, and handed to the model server
(`pedigree.serve.server.run`), which hashes them again before it reports ready. The folder is
removed when the server stops.
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pedigree.errors import ServeError
from pedigree.project import PARAMS_FILE, find_root

if TYPE_CHECKING:
    from pedigree.bundle import ServeBundle
    from pedigree.registry.fetch import Fetched
    from pedigree.registry.records import ModelVersion
    from pedigree.registry.replay import RegistryState
    from pedigree.serve.server import Limits

CHAMPION = "champion"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
TEMP_PREFIX = "pedigree-serve-"
UNREGISTERED_HINT = (
    "run the pipeline so release registers it, or serve a registered version "
    "(`pedigree serve --version vN`; `pedigree models list` shows them)"
)


@dataclass(frozen=True)
class Resolved:
    """What will be served: the project, its registry, the version and its serve bundle, and
    the local model file given with --model (None: the model is fetched by its hash)."""

    root: Path
    registry: Path
    version: ModelVersion
    bundle: ServeBundle
    model_file: Path | None = None


@dataclass(frozen=True)
class Serving:
    """A server that is ready: where it answers and what it serves (its files, verified)."""

    url: str  # the model's V2 endpoint: http://HOST:PORT/v2/models/<pipeline>
    bundle: ServeBundle
    files: tuple[Fetched, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the line `pedigree serve --json` prints when ready)."""
        return {
            "url": self.url,
            "infer_url": f"{self.url}/infer",
            "pipeline": self.bundle.pipeline,
            "version": self.bundle.version,
            "model_sha256": self.bundle.model_sha256,
            "files": {f.role: {"path": str(f.path), "source": f.source} for f in self.files},
        }


def _version_number(text: str) -> int | None:
    """None for `champion`, else the number of `3`/`v3` (RegistryError for anything else)."""
    from pedigree.api.models import parse_version

    return None if text.strip().lower() == CHAMPION else parse_version(text)


def _by_sha256(state: RegistryState, path: Path) -> ModelVersion:
    """The registered version whose model has `path`'s sha256 (ServeError when none)."""
    from pedigree.atomic import sha256_file

    if not path.is_file():
        raise ServeError(f"{path} is not a file", "give the path of a model file (--model PATH)")
    try:
        sha = sha256_file(path)
    except OSError as exc:
        raise ServeError(f"cannot read {path}: {exc.strerror or exc}") from None
    found = state.by_sha256(sha)
    if found is None:
        raise ServeError(
            f"{path} (sha256 {sha}) is not in the model registry: only a model with a pedigree "
            "is served",
            UNREGISTERED_HINT,
        )
    return found


def resolve(
    start: Path,
    version: str | int | None = None,
    model: Path | None = None,
    registry: Path | None = None,
) -> Resolved:
    """The version to serve and its bundle: `version` (`3`, `v3` or `champion`), the registered
    version of the model file `model`, or (neither given) the champion."""
    from pedigree.registry.bundle import bundle_for_version
    from pedigree.registry.settings import registry_root
    from pedigree.registry.store import Registry, lock_path
    from pedigree.spec.load import load

    if version is not None and model is not None:
        raise ServeError("give a version or a model file, not both", "--version vN or --model PATH")
    loaded = load(start)
    spec = loaded.spec
    if spec.spec.serve is None:
        raise ServeError(
            f"{loaded.project.spec_path} has no serve: section: pipeline "
            f"'{spec.metadata.name}' does not say how its model answers requests",
            "add spec.serve (image, predictor, code, files, params; see docs/spec.md) and a "
            "predictor module, like stages/serve in the pets pipeline",
        )
    root = find_root(start)
    folder = registry_root(root, root / PARAMS_FILE, registry)
    state = Registry(folder, lock_path(root, folder), create=False).state()
    given = None if model is None else Path(model).resolve()
    if given is not None:
        found = _by_sha256(state, given)
    else:
        number = _version_number(str(version)) if version is not None else None
        found = _pick(state, number, folder)
    bundle = bundle_for_version(spec.metadata.name, spec.spec.serve, found)
    return Resolved(root, folder, found, bundle, given)


def _pick(state: RegistryState, number: int | None, folder: Path) -> ModelVersion:
    """Version `number` of the registry state, or its champion when `number` is None."""
    from pedigree.errors import RegistryError

    if number is None:
        if state.champion is None:
            raise ServeError(
                f"the registry {folder} has no champion: no model has passed the release gate",
                "serve a version by number (`pedigree serve --version vN`; `pedigree models "
                "list` shows them), or promote one (`pedigree models promote vN`)",
            )
        return state.champion
    found = state.by_number(number)
    if found is None:
        have = ", ".join(f"v{v.version}" for v in state.versions) or "none"
        raise RegistryError(
            f"the registry {folder} has no v{number} (versions: {have})",
            "`pedigree models list` shows the versions",
        )
    return found


def fetch(resolved: Resolved, folder: Path, remote: str | None = None) -> tuple[Fetched, ...]:
    """Write every file of the bundle into `folder`, verified by its recorded hashes (the
    model from --model's file when one was given)."""
    from pedigree.bundle import MODEL
    from pedigree.registry.fetch import fetch_bundle

    given = {} if resolved.model_file is None else {MODEL: resolved.model_file}
    return fetch_bundle(resolved.root, resolved.bundle, folder, given, remote)


def model_url(ready_url: str, pipeline: str) -> str:
    """The model's V2 endpoint from the address the server reported (its base URL or the
    model's own)."""
    url = ready_url.rstrip("/")
    if "/v2/models/" in url:
        return url.removesuffix("/infer")
    return f"{url}/v2/models/{pipeline}"


def serve(
    start: Path,
    version: str | int | None = None,
    model: Path | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    registry: Path | None = None,
    remote: str | None = None,
    on_ready: Callable[[Serving], None] | None = None,
    limits: Limits | None = None,
) -> None:
    """Serve the chosen model until the server stops (Ctrl-C): resolve, fetch into a private
    temporary folder, run the server; the folder is removed however it ends."""
    from pedigree.serve import server

    resolved = resolve(start, version, model, registry)
    with _terminate_as_interrupt(), tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as scratch:
        files = fetch(resolved, Path(scratch), remote)
        local = {f.role: f.path for f in files}

        def ready(url: str) -> None:
            if on_ready is not None:
                on_ready(Serving(model_url(url, resolved.bundle.pipeline), resolved.bundle, files))

        server.run(
            resolved.bundle,
            local,
            resolved.root,
            host,
            port,
            on_ready=ready,
            limits=server.Limits() if limits is None else limits,
        )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (`kill`, a process manager) ends the command like Ctrl-C: the temporary folder
    is removed either way. (While it serves, the server's own handlers stop it gracefully.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
