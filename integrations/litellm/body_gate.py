"""A gate in front of the LiteLLM proxy: request bodies LiteLLM cannot handle get a typed 400.

LiteLLM 1.106 answers some hostile JSON bodies on its LLM routes with a 500 and drops the
connection: ``null``, ``[]`` or an empty body (its key check calls ``.get`` on the body) and
5,000-deep nesting (its JSON parser recurses). :class:`BodyGate`, an ASGI middleware outside
LiteLLM's own, answers those with an OpenAI-shaped ``invalid_request_error`` (400) before any of
LiteLLM's code runs, and passes every other request on unchanged (its body replayed as read).

It is cheap on the hot path: only the first byte is looked at, and the body is parsed (off the
event loop when large) only when it holds more brackets than the depth allowed.
``echosafe-guard serve`` installs it (:func:`gate_uvicorn`); a proxy started another way calls
:func:`install_body_gate` before the server starts (Starlette takes no middleware after that).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["MAX_JSON_DEPTH", "BodyGate", "body_problem", "gate_uvicorn", "install_body_gate"]

MAX_JSON_DEPTH = 64
"""Deepest nesting of JSON objects and arrays accepted (an OpenAI chat request needs about 8)."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_SPACE = b" \t\r\n"
_OFF_LOOP_BYTES = 1 << 20
"""Bodies larger than this are measured on a worker thread (a 20 MB body takes ~50 ms)."""
_lock = threading.Lock()
_installed: set[int] = set()


def _too_deep(value: Any, max_depth: int) -> bool:
    """Whether parsed JSON nests objects and arrays deeper than ``max_depth`` (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > max_depth:
                    return True
                stack.append((child, depth + 1))
    return False


def body_problem(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why LiteLLM cannot take ``body`` as an LLM API request, or None when it can try (JSON
    that does not parse is left to LiteLLM, which answers it with a 400 of its own)."""
    head = body.lstrip(_SPACE)[:1]
    if not head:
        return "the request body is empty: a JSON object is expected"
    if head != b"{":
        return "the request body must be a JSON object"
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return None  # cannot nest deeper: nothing to parse
    try:
        value = json.loads(body)
    except RecursionError:
        value = None
    except ValueError:
        return None
    if value is None or _too_deep(value, max_depth):
        return f"the request body nests JSON deeper than {max_depth} levels"
    return None


def _llm_route(path: str) -> bool:
    try:
        from litellm.proxy.auth.route_checks import RouteChecks
    except ImportError:  # not the proxy's LiteLLM: the OpenAI routes the guard sees
        return path.rstrip("/").endswith(("/completions", "/embeddings", "/responses"))
    return bool(RouteChecks.is_llm_api_route(route=path))


def _is_form(scope: Scope) -> bool:
    """A form upload (audio, files): LiteLLM reads any other body as JSON, whatever its type."""
    for name, value in scope.get("headers") or ():
        if name.lower() == b"content-type":
            kind = bytes(value).lower()
            return kind.startswith((b"multipart/", b"application/x-www-form-urlencoded"))
    return False


class BodyGate:
    """ASGI middleware: a 400 for the bodies of :func:`body_problem`, on POSTs to LLM routes."""

    def __init__(self, app: ASGIApp, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope.get("type") != "http"
            or scope.get("method") != "POST"
            or _is_form(scope)
            or not _llm_route(str(scope.get("path", "")))
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay(b"".join(chunks), message, receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if len(body) > _OFF_LOOP_BYTES:
            problem = await asyncio.to_thread(body_problem, body, self.max_depth)
        else:
            problem = body_problem(body, self.max_depth)
        if problem is None:
            await self.app(scope, _replay(body, None, receive), send)
            return
        await _reject(send, f"echosafe: {problem}")


def _replay(body: bytes, then: Message | None, receive: Receive) -> Receive:
    """A ``receive`` that gives the body already read (whole, or the part read before ``then``,
    the client's disconnect), then what the client sends next."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": then is not None}]
    if then is not None:
        pending.append(then)

    async def again() -> Message:
        return pending.pop(0) if pending else await receive()

    return again


async def _reject(send: Send, message: str) -> None:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": "400"}
    payload = json.dumps({"error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def install_body_gate(app: Any | None = None) -> bool:
    """Put :class:`BodyGate` outside every middleware of the proxy app (LiteLLM's own by
    default) once; False when it was there already. Call it before the server starts."""
    if app is None:
        from litellm.proxy.proxy_server import app as proxy_app

        app = proxy_app
    with _lock:
        if id(app) in _installed:
            return False
        app.add_middleware(BodyGate)
        _installed.add(id(app))
        return True


def gate_uvicorn() -> None:
    """Make ``uvicorn.run`` install the gate on LiteLLM's app just before it serves (what
    ``litellm.run_server`` calls once its config is read; one worker: more workers import the
    app afresh, without the gate)."""
    import uvicorn

    real = uvicorn.run
    if getattr(real, "echosafe_gate", False):
        return

    def run(*args: Any, **kwargs: Any) -> Any:
        install_body_gate()
        return real(*args, **kwargs)

    run.echosafe_gate = True  # type: ignore[attr-defined]
    uvicorn.run = run
