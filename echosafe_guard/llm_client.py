"""What every LiteLLM caller shares: an offline-safe import, the answer text, a JSON object.

Used by the reflector, the LLM judge, the eval runner and the LiteLLM SDK wrapper.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from echosafe_guard.exceptions import ConfigError, MessageFormatError

__all__ = ["import_litellm", "json_object", "response_text"]

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
