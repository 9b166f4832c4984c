"""The model server's KServe side: the ModelServer and the ASGI app it runs.

`PedigreeModelServer` is KServe's ModelServer (its model registry and data plane) serving one
model over REST only, in this process, on a socket bound beforehand (KServe would bind
0.0.0.0 itself, and exit on a port in use); it calls `on_ready(url)` once uvicorn listens.

Its app is a fresh FastAPI app (KServe's own is one module-level object, whose middleware
cannot change once it has served) holding KServe's V2 routes, less the model repository ones
(`/v2/repository/models/<name>/load|unload` would let any client unload the model: 404), plus
`/metrics`. Every error answers `{"error": message}` as V2 says (a body that is not a V2
request too: 400, not FastAPI's 422 list); a 4xx is logged as one line, not with a traceback.
The guard (`middleware.RequestGuard`) wraps it all.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from uvicorn import Config, Server

from pedigree.bundle import ServeBundle
from pedigree.errors import ServeError
from pedigree.serve import _kserve, protocol
from pedigree.serve.limits import Limits
from pedigree.serve.middleware import ASGIApp, RequestGuard
from pedigree.serve.model import ServeDataPlane

log = logging.getLogger("pedigree.serve")

Handler = Callable[[Request, Exception], Awaitable[Response]]
KEEP_ALIVE_SECONDS = 65


class PedigreeModelServer(_kserve.ModelServer):
    """KServe's ModelServer for one bundle: REST only, one process, our app and socket."""

    def __init__(self, bundle: ServeBundle, limits: Limits, grace_seconds: int) -> None:
        super().__init__(
            enable_grpc=False,
            workers=1,
            enable_docs_url=False,
            enable_latency_logging=False,
            grace_period=grace_seconds,
        )
        self.dataplane = ServeDataPlane(model_registry=self.registered_models)
        self.bundle = bundle
        self.limits = limits
        self.grace_seconds = grace_seconds

    def serve(
        self,
        model: Any,
        listener: socket.socket,
        url: str,
        on_ready: Callable[[str], None] | None,
    ) -> None:
        """Serve `model` (loaded) on `listener` until uvicorn is told to stop (a signal)."""
        self.register_model(model)
        app = build_app(self.dataplane, self.model_repository_extension, self.bundle, self.limits)
        config = Config(
            app,
            log_config=None,  # KServe's logging is set up already
            timeout_graceful_shutdown=self.grace_seconds,
            # KServe's default: longer than a proxy's idle timeout (Istio/Envoy), or the proxy
            # may reuse a connection the server is closing and answer 503.
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            loop="asyncio",
            lifespan="off",
        )
        asyncio.run(_ReadyServer(config, url, on_ready).serve(sockets=[listener]))


class _ReadyServer(Server):
    """uvicorn's server, calling `on_ready(url)` once it listens."""

    def __init__(self, config: Config, url: str, on_ready: Callable[[str], None] | None) -> None:
        super().__init__(config)
        self.url = url
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            log.info("ready at %s", self.url)
            if self.on_ready is not None:
                self.on_ready(self.url)


class OrjsonResponse(JSONResponse):
    """JSON rendered by orjson (as KServe's app does: large outputs render much faster)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def build_app(
    dataplane: Any, repository_extension: Any, bundle: ServeBundle, limits: Limits
) -> ASGIApp:
    """The app serving `dataplane`'s models, wrapped in the body limit and model headers."""
    app = FastAPI(
        title="pedigree model server",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        default_response_class=OrjsonResponse,
    )
    # Routes match in order: this one, first, hides KServe's repository routes.
    app.add_api_route("/v2/repository/{rest:path}", _no_repository, methods=["GET", "POST"])
    _kserve.register_v2_endpoints(app, dataplane, repository_extension)
    app.add_api_route("/metrics", _kserve.metrics_handler, methods=["GET"])
    app.add_exception_handler(RequestValidationError, _not_v2)
    for error, status in (
        (_kserve.InvalidInput, HTTPStatus.BAD_REQUEST),
        (_kserve.ModelNotFound, HTTPStatus.NOT_FOUND),
        (_kserve.ModelNotReady, HTTPStatus.SERVICE_UNAVAILABLE),
        (_kserve.ServerNotReady, HTTPStatus.SERVICE_UNAVAILABLE),
        (_kserve.ServerNotLive, HTTPStatus.SERVICE_UNAVAILABLE),
        (_kserve.UnsupportedProtocol, HTTPStatus.NOT_IMPLEMENTED),
        (NotImplementedError, HTTPStatus.NOT_IMPLEMENTED),
    ):
        app.add_exception_handler(error, _refusal(status))
    for error in (_kserve.InferenceError, ServeError):
        app.add_exception_handler(error, _failure)
    # Anything else: 500 with the error's name (the guard logs its traceback).
    app.add_exception_handler(Exception, _unexpected)
    return RequestGuard(app, limits.max_body_bytes, protocol.response_headers(bundle))


async def _no_repository(rest: str) -> Response:
    return JSONResponse(
        {"error": "this server serves one model: the model repository API is off"},
        status_code=HTTPStatus.NOT_FOUND,
    )


async def _not_v2(request: Request, exc: Exception) -> Response:
    # FastAPI's 422 lists pydantic's errors as objects; V2 errors are {"error": text}.
    errors = list(exc.errors()) if isinstance(exc, RequestValidationError) else []
    # A JSON body fails both members of KServe's `InferenceRequest | bytes`: name the first.
    as_request = [e for e in errors if tuple(e.get("loc", ()))[1:2] == ("InferenceRequest",)]
    where = "; ".join(
        f"{'.'.join(str(p) for p in tuple(error.get('loc', ()))[2:]) or 'body'}: "
        f"{error.get('msg', '')}"
        for error in (as_request or errors)[:5]
    )
    message = f"the request is not a valid V2 inference request ({where or exc})"
    log.info("400 %s %s: %s", request.method, request.url.path, message)
    return JSONResponse({"error": message}, status_code=HTTPStatus.BAD_REQUEST)


def _refusal(status: HTTPStatus) -> Handler:
    async def refuse(request: Request, exc: Exception) -> Response:
        log.info("%d %s %s: %s", status, request.method, request.url.path, exc)
        return JSONResponse({"error": str(exc)}, status_code=status)

    return refuse


async def _failure(request: Request, exc: Exception) -> Response:
    # A server-side failure we can name (a predictor breaking its contract): one line to the
    # client, the traceback to the log.
    message = exc.message if isinstance(exc, ServeError) else str(exc)
    log.error("500 %s %s: %s", request.method, request.url.path, message, exc_info=exc)
    return JSONResponse({"error": message}, status_code=HTTPStatus.INTERNAL_SERVER_ERROR)


async def _unexpected(request: Request, exc: Exception) -> Response:
    return JSONResponse(
        {"error": f"{type(exc).__name__}: {exc}"}, status_code=HTTPStatus.INTERNAL_SERVER_ERROR
    )
