"""What every LiteLLM caller shares: an offline-safe import, the answer text, a JSON object.

Used by the reflector, the LLM judge, the eval runner and the LiteLLM SDK wrapper.
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
    "acall_with_retries",
    "call_with_retries",
    "import_litellm",
    "json_object",
    "response_text",
]

_T = TypeVar("_T")

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
    data = json.loads(body[start : end + 1])
    if not isinstance(data, dict):
        raise ValueError("the JSON is not an object")
    return data


def call_with_retries(
    call: Callable[[], _T],
    *,
    attempts: int,
    backoff_s: float,
    wrap: Callable[[Exception], EchoSafeError],
    keep: tuple[type[Exception], ...] = (),
) -> _T:
    """``call()``, retried ``attempts`` times with exponential backoff. The last failure is
    raised as ``wrap(exc)`` from it; exceptions in ``keep`` are raised at once, unretried."""
    for attempt in range(attempts):
        try:
            return call()
        except keep:
            raise
        except Exception as exc:  # LiteLLM maps provider errors to its own types
            if attempt + 1 >= attempts:
                raise wrap(exc) from exc
            time.sleep(backoff_s * 2**attempt)
    raise ConfigError("attempts must be >= 1")


async def acall_with_retries(
    call: Callable[[], Awaitable[_T]],
    *,
    attempts: int,
    backoff_s: float,
    wrap: Callable[[Exception], EchoSafeError],
    keep: tuple[type[Exception], ...] = (),
) -> _T:
    """As :func:`call_with_retries`, awaiting ``call()`` and sleeping on the event loop."""
    for attempt in range(attempts):
        try:
            return await call()
        except keep:
            raise
        except Exception as exc:
            if attempt + 1 >= attempts:
                raise wrap(exc) from exc
            await asyncio.sleep(backoff_s * 2**attempt)
    raise ConfigError("attempts must be >= 1")

