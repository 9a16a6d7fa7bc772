"""OpenAI/LiteLLM chat messages ⇄ turns, and writing the guard's block into them.

Reading never mutates or copies the caller's messages. :func:`apply_block` touches only the system
message: an earlier guard block is replaced, never duplicated, the user's own system text is kept,
and every other message is passed through as the very same object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from echosafe_guard.block import merge_system_parts, merge_system_text
from echosafe_guard.context import ImageRef, RequestContext, Turn, build_context
from echosafe_guard.exceptions import InputTooLargeError, MessageFormatError
from echosafe_guard.policy.models import ContextPolicy, ImagePolicy

__all__ = [
    "ROLES",
    "apply_block",
    "context_from_messages",
    "is_messages",
    "to_turns",
    "validate_messages",
]

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_TEXT_PARTS = frozenset({"text", "input_text"})
_IMAGE_PARTS = frozenset({"image_url", "input_image"})


def _parts(
    msg: Mapping[str, Any], where: str, unkeyed: frozenset[str]
) -> list[Mapping[str, Any]] | str | None:
    if "content" not in msg:
        if msg.get("role") == "assistant" and ("tool_calls" in msg or "function_call" in msg):
            return None
        raise MessageFormatError(f"{where}: missing 'content'")
    content = msg["content"]
    if content is None:
        if msg.get("role") in ("assistant", "tool", "function"):
            return None
        raise MessageFormatError(f"{where}.content: is null")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise MessageFormatError(
            f"{where}.content: expected a string or a list of parts, got {type(content).__name__}"
        )
    for j, part in enumerate(content):
        pwhere = f"{where}.content[{j}]"
        if not isinstance(part, Mapping):
            raise MessageFormatError(f"{pwhere}: expected an object, got {type(part).__name__}")
        ptype = part.get("type")
        if not isinstance(ptype, str) or not ptype:
            raise MessageFormatError(f"{pwhere}: missing 'type'")
        if ptype in _TEXT_PARTS and not isinstance(part.get("text"), str):
            raise MessageFormatError(f"{pwhere}.text: expected a string")
        if ptype in _IMAGE_PARTS:
            _image_url(part, pwhere)
        elif ptype not in _TEXT_PARTS and ptype not in unkeyed:
            known = sorted(_TEXT_PARTS | _IMAGE_PARTS | unkeyed)
            raise MessageFormatError(
                f"{pwhere}.type: unknown content part type {ptype[:40]!r}; expected one of "
                f"{known} (context.unkeyed_part_types lists the types passed through unread)"
            )
    return content


def _image_url(part: Mapping[str, Any], where: str) -> str:
    raw = part.get("image_url", part.get("url"))
    if isinstance(raw, Mapping):
        raw = raw.get("url")
    if not isinstance(raw, str) or not raw:
        raise MessageFormatError(
            f"{where}.image_url: expected a URL string or an object with a 'url' string"
        )
    return raw


def validate_messages(messages: Any, *, policy: ContextPolicy) -> Sequence[Mapping[str, Any]]:
    """Check the structure of a whole message list; raise :class:`MessageFormatError` if bad."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise MessageFormatError(
            f"messages: expected a list of message objects, got {type(messages).__name__}"
        )
    if not messages:
        raise MessageFormatError("messages: the list is empty")
    if len(messages) > policy.max_messages:
        raise InputTooLargeError(
            f"messages: {len(messages)} messages exceed context.max_messages={policy.max_messages}"
        )
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, Mapping):
            raise MessageFormatError(f"{where}: expected an object, got {type(msg).__name__}")
        role = msg.get("role")
        if not isinstance(role, str):
            raise MessageFormatError(f"{where}.role: missing or not a string")
        if role not in ROLES:
            raise MessageFormatError(
                f"{where}.role: unknown role {role!r}; expected one of {sorted(ROLES)}"
            )
        _parts(msg, where, policy.unkeyed_part_types)
    return messages


def _turn(msg: Mapping[str, Any], i: int, policy: ContextPolicy) -> Turn:
    where = f"messages[{i}]"
    content = _parts(msg, where, policy.unkeyed_part_types)
    texts: list[str] = []
    images: list[ImageRef] = []
    if isinstance(content, str):
        texts.append(content)
    elif content is not None:
        for j, part in enumerate(content):
            if part["type"] in _TEXT_PARTS:
                texts.append(part["text"])
            elif part["type"] in _IMAGE_PARTS:
                pwhere = f"{where}.content[{j}]"
                images.append(ImageRef(_image_url(part, pwhere), where=pwhere))
    text = "\n".join(t for t in texts if t.strip())
    return Turn(text=text, images=tuple(images), role=str(msg["role"]), index=i)


def to_turns(messages: Any, *, policy: ContextPolicy) -> list[Turn]:
    """Validate ``messages`` and convert each to a :class:`Turn` (images stay URLs)."""
    return [_turn(m, i, policy) for i, m in enumerate(validate_messages(messages, policy=policy))]


def is_messages(value: Any) -> bool:
    """True unless ``value`` is a sequence of turns or a request context (what the guard then
    treats as OpenAI/LiteLLM messages, validating them)."""
    if isinstance(value, RequestContext):
        return False
    return not (
        isinstance(value, Sequence)
        and not isinstance(value, (str, bytes))
        and value
        and all(isinstance(t, Turn) for t in value)
    )


def context_from_messages(
    messages: Any, *, context: ContextPolicy, images: ImagePolicy
) -> RequestContext:
    """Validate ``messages`` and build the request context (decoding the window's images)."""
    turns = to_turns(messages, policy=context)
    return build_context(turns, context=context, images=images, source="messages")


def apply_block(messages: Sequence[Mapping[str, Any]], block: str | None) -> list[Any]:
    """A new message list with ``block`` in the first system message (created if absent).

    An earlier guard block is replaced, never duplicated; with ``block=None`` it is removed.
    """
    out: list[Any] = list(messages)
    for i, msg in enumerate(out):
        if msg.get("role") != "system":
            continue
        content = msg.get("content")
        new = dict(msg)
        if isinstance(content, list):
            new["content"] = merge_system_parts(content, block)
        else:
            new["content"] = merge_system_text(content if isinstance(content, str) else "", block)
        out[i] = new
        return out
    if block is not None:
        out.insert(0, {"role": "system", "content": block})
    return out
