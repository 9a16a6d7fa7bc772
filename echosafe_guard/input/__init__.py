"""Converters from framework message types to :class:`~echosafe_guard.context.Turn` and back.

One module per message format: ``openai`` (OpenAI/LiteLLM chat dicts). Other adapters' converters
live next to it or with their adapter; the core only ever sees turns. :func:`to_context` is what
the guard calls on whatever it was handed.
"""

from __future__ import annotations

from typing import Any

from echosafe_guard.context import RequestContext, build_context
from echosafe_guard.input.openai import context_from_messages, is_messages
from echosafe_guard.policy.models import Policy

__all__ = ["to_context"]


def to_context(value: Any, policy: Policy) -> RequestContext:
    """The request context of OpenAI/LiteLLM messages, a sequence of turns, or a request context
    (its images decoded, its limits checked under ``policy``)."""
    if is_messages(value):
        return context_from_messages(value, context=policy.context, images=policy.images)
    if isinstance(value, RequestContext):
        return build_context(
            value.turns,
            context=policy.context,
            images=policy.images,
            window=False,
            skipped=value.skipped_images,
        )
    return build_context(value, context=policy.context, images=policy.images)
