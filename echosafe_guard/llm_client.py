"""What every LiteLLM caller shares: an offline-safe import, the answer text, a JSON object,
retries with backoff and the strict-JSON ask with one repair turn (sync and async twins).

Used by the reflector, the learner, the LLM judge, the eval runner and the LiteLLM SDK wrapper.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from echosafe_guard.exceptions import ConfigError, EchoSafeError, MessageFormatError

__all__ = [
    "aask_json",
    "acall_with_retries",
    "ask_json",
    "call_with_retries",
    "import_litellm",
    "json_object",
    "response_text",
]

_T = TypeVar("_T")
Messages = list[dict[str, str]]

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


def import_litellm(purpose: str = "this feature") -> Any:
    """The ``litellm`` module. Sets ``LITELLM_LOCAL_MODEL_COST_MAP`` first (unless the caller
    set it): without it LiteLLM fetches its model-cost map from the network on import."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError as exc:  # pragma: no cover - litellm is a dependency
        raise ConfigError(f"{purpose} needs the 'litellm' package") from exc
    return litellm


def response_text(response: Any) -> str:
    """The answer text of a string, a LiteLLM/OpenAI response object, or its dict form."""
    if isinstance(response, str):
        return response
    try:
        if isinstance(response, dict):
            content = response["choices"][0]["message"]["content"]
        else:
            content = response.choices[0].message.content
    except (AttributeError, IndexError, KeyError, TypeError) as exc:
        raise MessageFormatError(
            f"response: expected a string or a chat completion, got {type(response).__name__}"
        ) from exc
    return content if isinstance(content, str) else ""


def json_object(text: str) -> dict[str, Any]:
    """The JSON object in a model's answer (code fences and surrounding prose tolerated);
    raises ``ValueError`` naming what is wrong."""
    body = _FENCE.sub("", text.strip())
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the answer")
    try:
        data = json.loads(body[start : end + 1])
    except RecursionError as exc:  # hostile nesting: an invalid answer, repaired or counted
        raise ValueError("the JSON is nested too deeply") from exc
    if not isinstance(data, dict):
        raise ValueError("the JSON is not an object")
    return data


def call_with_retries(
    call: Callable[[], _T],
    *,
    attempts: int,
    backoff_s: float,
    wrap: Callable[[Exception], EchoSafeError] | None = None,
    keep: tuple[type[Exception], ...] = (),
    retry_on: tuple[type[Exception], ...] = (Exception,),
    on_error: Callable[[Exception], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> _T:
    """``call()``, tried up to ``attempts`` times, sleeping ``backoff_s * 2**i`` between tries.

    Only exceptions in ``retry_on`` (less those in ``keep``) are retried; anything else is raised
    at once. ``on_error`` sees every retried failure, the last one included. The last failure is
    raised as ``wrap(exc)`` from it, or as itself when ``wrap`` is None.
    """
    if attempts < 1:
        raise ConfigError("attempts must be >= 1")
    for attempt in range(attempts):
        try:
            return call()
        except keep:
            raise
        except retry_on as exc:  # LiteLLM maps provider errors to its own types
            if on_error is not None:
                on_error(exc)
            if attempt + 1 >= attempts:
                if wrap is None:
                    raise
                raise wrap(exc) from exc
            sleep(backoff_s * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


async def acall_with_retries(
    call: Callable[[], Awaitable[_T]],
    *,
    attempts: int,
    backoff_s: float,
    wrap: Callable[[Exception], EchoSafeError] | None = None,
    keep: tuple[type[Exception], ...] = (),
    retry_on: tuple[type[Exception], ...] = (Exception,),
    on_error: Callable[[Exception], None] | None = None,
) -> _T:
    """As :func:`call_with_retries`, awaiting ``call()`` and sleeping on the event loop."""
    if attempts < 1:
        raise ConfigError("attempts must be >= 1")
    for attempt in range(attempts):
        try:
            return await call()
        except keep:
            raise
        except retry_on as exc:
            if on_error is not None:
                on_error(exc)
            if attempt + 1 >= attempts:
                if wrap is None:
                    raise
                raise wrap(exc) from exc
            await asyncio.sleep(backoff_s * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _repair_turns(messages: Messages, text: str, error: Exception, repair: str) -> Messages:
    return [
        *messages,
        {"role": "assistant", "content": text[:2000]},
        {"role": "user", "content": repair.replace("{error}", str(error)[:300])},
    ]


def ask_json(
    call: Callable[[Messages], str],
    messages: Messages,
    parse: Callable[[str], _T],
    *,
    repair: str,
    invalid: type[EchoSafeError],
    what: str,
) -> _T:
    """Ask a model for strict JSON: ``parse(call(messages))``, with one repair turn.

    ``call`` sends a conversation and returns the answer text; ``parse`` turns the text into the
    record or raises ``ValueError`` (pydantic's ``ValidationError`` is one). When the first answer
    does not parse, the conversation is sent again with the bad answer and the ``repair`` note
    (``{error}`` in it is replaced by what was wrong). A second bad answer raises
    ``invalid("<what> invalid after one repair: ...")``. Errors of ``call`` pass through.
    """
    text = call(messages)
    try:
        return parse(text)
    except ValueError as first:
        text2 = call(_repair_turns(messages, text, first, repair))
    try:
        return parse(text2)
    except ValueError as exc:
        raise invalid(f"{what} invalid after one repair: {exc}") from exc


async def aask_json(
    call: Callable[[Messages], Awaitable[str]],
    messages: Messages,
    parse: Callable[[str], _T],
    *,
    repair: str,
    invalid: type[EchoSafeError],
    what: str,
) -> _T:
    """As :func:`ask_json`, awaiting ``call``."""
    text = await call(messages)
    try:
        return parse(text)
    except ValueError as first:
        text2 = await call(_repair_turns(messages, text, first, repair))
    try:
        return parse(text2)
    except ValueError as exc:
        raise invalid(f"{what} invalid after one repair: {exc}") from exc
