"""The request guard: 413 before a large body is read, the body handed on whole, headers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pedigree.serve.middleware import Message, RequestGuard

HEADERS = {"x-pedigree-model-version": "v3"}


class Echo:
    """An app that reads the body and answers with its length (and records that it ran)."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": str(len(body)).encode()})


def call(
    app: Any,
    chunks: list[bytes],
    headers: list[tuple[bytes, bytes]] | None = None,
    kind: str = "http",
) -> list[Message]:
    messages: list[Message] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": kind, "headers": headers or []}
    asyncio.run(RequestGuard(app, 10, HEADERS)(scope, receive, send))
    return sent


def test_a_body_within_the_limit_reaches_the_app_whole_with_the_headers() -> None:
    app = Echo()
    sent = call(app, [b"abcd", b"efgh", b"ij"])
    assert sent[0]["status"] == 200
    assert (b"x-pedigree-model-version", b"v3") in sent[0]["headers"]
    assert (b"content-type", b"text/plain") in sent[0]["headers"]
    assert sent[1]["body"] == b"10"


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    app = Echo()
    sent = call(app, [b"x" * 11], [(b"content-length", b"11")])
    assert app.calls == 0
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]
    assert (b"x-pedigree-model-version", b"v3") in sent[0]["headers"]
    assert json.loads(sent[1]["body"]) == {
        "error": "the request body of 11 bytes is over the server's limit of 10 bytes: "
        "send fewer or smaller images per request"
    }


def test_a_streamed_body_over_the_limit_is_refused_once_it_passes() -> None:
    app = Echo()
    sent = call(app, [b"x" * 6, b"x" * 6, b"x" * 100])
    assert app.calls == 0
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"].startswith(
        "the request body is over the server's limit of 10 bytes"
    )


def test_a_client_gone_before_the_body_ends_gets_nothing() -> None:
    app = Echo()
    messages = [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(RequestGuard(app, 10, HEADERS)({"type": "http", "headers": []}, receive, send))
    assert app.calls == 0 and sent == []


def test_app_headers_win_and_other_scopes_pass_through() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [(b"X-Pedigree-Model-Version", b"mine")],
            }
        )

    sent = call(app, [b""])
    assert [h for h in sent[0]["headers"] if h[0].lower() == b"x-pedigree-model-version"] == [
        (b"X-Pedigree-Model-Version", b"mine")
    ]
    seen: list[str] = []

    async def lifespan(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    call(lifespan, [b""], kind="lifespan")
    assert seen == ["lifespan"]


def test_an_app_failure_is_a_500_and_never_reaches_the_http_server() -> None:
    async def fails_early(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("early")

    sent = call(fails_early, [b""])
    assert sent[0]["status"] == 500 and json.loads(sent[1]["body"]) == {
        "error": "internal server error"
    }

    async def fails_after_answering(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
        raise RuntimeError("late")

    assert [m.get("status") for m in call(fails_after_answering, [b""])] == [500, None]


def test_a_response_without_a_content_type_gets_one() -> None:
    def answering(*headers: tuple[bytes, bytes]) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
            await send({"type": "http.response.body", "body": b"{}"})

        return app

    def content_type(app: Any) -> list[bytes]:
        return [v for k, v in call(app, [b""])[0]["headers"] if k == b"content-type"]

    assert content_type(answering()) == [b"application/json"]
    assert content_type(answering((b"inference-header-content-length", b"2"))) == [
        b"application/octet-stream"
    ]
    assert content_type(answering((b"content-type", b"text/plain"))) == [b"text/plain"]
