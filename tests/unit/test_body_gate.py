"""``BodyGate``: the bodies LiteLLM answered with a 500 get a typed 400; every other request
reaches the app unchanged (its body replayed as read, in any number of chunks)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from echosafe_guard.integrations.litellm.body_gate import (
    MAX_JSON_DEPTH,
    BodyGate,
    body_problem,
    install_body_gate,
)
from starlette.applications import Starlette

CHAT = "/v1/chat/completions"
OK = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()


def nested(levels: int) -> bytes:
    """An object whose ``a`` holds ``levels - 1`` nested arrays: ``levels`` levels in all."""
    return b'{"a": ' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"null", "JSON object"),
        (b"[]", "JSON object"),
        (b'"text"', "JSON object"),
        (b"42", "JSON object"),
        (nested(5_000), "deeper than 64"),
        (nested(MAX_JSON_DEPTH + 1), "deeper than 64"),
        (nested(MAX_JSON_DEPTH), None),
        (OK, None),
        (b"{not json", None),  # left to LiteLLM, which answers it with its own 400
        # brackets inside strings do not nest
        (json.dumps({"messages": [{"content": "[" * 500 + '\\"' + "{" * 90}]}).encode(), None),
        (json.dumps({"messages": [{"role": "user", "content": "x"}] * 5_001}).encode(), None),
    ],
)
def test_body_problem(body: bytes, problem: str | None) -> None:
    got = body_problem(body)
    assert (got is None) if problem is None else (got is not None and problem in got), got


class Downstream:
    """The app behind the gate: records the body it read."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def call(
    app: Any, body: bytes, *, path: str = CHAT, method: str = "POST", chunks: int = 1,
    content_type: bytes | None = b"application/json",
) -> tuple[int, bytes]:  # fmt: skip
    size = max(1, -(-len(body) // chunks))
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    incoming = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
        for i, p in enumerate(parts)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    headers = [(b"content-type", content_type)] if content_type else []
    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.parametrize("body", [b"", b"null", b"[]", nested(5_000)])
def test_a_body_litellm_cannot_take_is_a_typed_400_and_never_reaches_it(body: bytes) -> None:
    app = Downstream()
    status, out = call(BodyGate(app), body, chunks=3)
    error = json.loads(out)["error"]
    assert status == 400 and error["type"] == "invalid_request_error"
    assert error["code"] == "400" and error["message"].startswith("echosafe: the request body")
    assert app.bodies == []


@pytest.mark.parametrize("chunks", [1, 4])
def test_a_good_body_reaches_the_app_unchanged(chunks: int) -> None:
    app = Downstream()
    big = json.dumps({"messages": [{"role": "user", "content": "x"}] * 300}).encode()
    assert call(BodyGate(app), OK, chunks=chunks)[0] == 200
    assert call(BodyGate(app), big, chunks=chunks)[0] == 200
    assert app.bodies == [OK, big]


def test_a_client_gone_mid_body_reaches_the_app_with_what_it_sent() -> None:
    app = Downstream()
    incoming = [
        {"type": "http.request", "body": b'{"model": ', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(msg: dict[str, Any]) -> None:
        pass

    scope = {"type": "http", "method": "POST", "path": CHAT, "headers": []}
    asyncio.run(BodyGate(app)(scope, receive, send))
    assert app.bodies == [b'{"model": ']


def test_other_routes_methods_and_content_types_are_not_looked_at() -> None:
    app = Downstream()
    gate = BodyGate(app)
    assert call(gate, b"null", path="/key/generate")[0] == 200
    assert call(gate, b"", method="GET")[0] == 200
    assert call(gate, b"--x\r\n", content_type=b"multipart/form-data; boundary=x")[0] == 200
    assert app.bodies == [b"null", b"", b"--x\r\n"]
    for other in (None, b"text/plain"):  # LiteLLM reads these as JSON too
        assert call(gate, b"null", content_type=other)[0] == 400


def test_install_puts_the_gate_outside_once() -> None:
    app = Starlette()
    assert install_body_gate(app) is True
    assert install_body_gate(app) is False
    assert [m.cls for m in app.user_middleware] == [BodyGate]
