"""The model server's outermost ASGI layer: a bound on request bodies, and the model's headers.

Neither KServe nor uvicorn bounds a request body: FastAPI reads it whole before anything can
look at its size. This layer reads the body first, refusing it with 413 as soon as it is known
to be too large (a declared Content-Length over the limit: before reading a byte; a chunked
body: once the streamed bytes pass it), and hands the app the body it has read. It also puts
the served model's identity headers on every response, errors included (and a content type
on one that has none: an inference response KServe passed on as bytes), and keeps an
unexpected error from closing the client's connection (see `RequestGuard.__call__`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MIB = 1 << 20

log = logging.getLogger("pedigree.serve")
_JSON = b"application/json"
_OCTETS = b"application/octet-stream"


class RequestGuard:
    """Wrap `app`: 413 for a body over `max_body_bytes`, and `headers` on every response."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, headers: Mapping[str, str]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def stamped(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [item for item in self.headers if item[0] not in present]
                if b"content-type" not in present:
                    # KServe passes an encoded inference response on with no content type.
                    binary = b"inference-header-content-length" in present
                    extra.append((b"content-type", _OCTETS if binary else _JSON))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large(stamped, declared)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(stamped, None)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:  # after the body: the app waits for a disconnect
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            await self.app(scope, replay, stamped)
        except Exception:
            # The app has answered 500 already (its last-resort handler) and re-raised for the
            # server to log; raised on to uvicorn, it would also drop the keep-alive connection
            # under the client's next request. Logged here, and the connection lives on.
            log.exception("%s %s failed", scope.get("method", ""), scope.get("path", ""))
            if not started:
                await _answer(stamped, 500, {"error": "internal server error"})

    async def _too_large(self, send: Send, declared: int | None) -> None:
        size = f"of {declared} bytes " if declared is not None else ""
        limit = f"{self.max_body_bytes} bytes"
        if self.max_body_bytes % MIB == 0:
            limit += f" ({self.max_body_bytes // MIB} MiB)"
        error = (
            f"the request body {size}is over the server's limit of {limit}: "
            "send fewer or smaller images per request"
        )
        # The unread rest of the body is still on the connection: it cannot be reused.
        await _answer(send, 413, {"error": error}, close=True)


async def _answer(send: Send, status: int, body: dict[str, str], close: bool = False) -> None:
    text = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(text)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text, "more_body": False})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:  # the HTTP server refuses a malformed one before we see it
                return None
    return None
