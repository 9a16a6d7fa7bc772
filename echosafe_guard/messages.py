"""Normalising OpenAI/LiteLLM chat messages into the request context the guard reasons about.

The request context is the last user turn (text and images) plus a bounded window of earlier user
turns, so that a harmful request split over several turns is still seen as a whole. Normalising
never mutates or copies the caller's messages: the rewrite touches only the system message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from echosafe_guard.exceptions import InputTooLargeError, MessageFormatError
from echosafe_guard.images import ImageInput, SkippedImage, resolve_image_url
from echosafe_guard.memory.insight import request_hash
from echosafe_guard.policy.models import ContextPolicy, ImagePolicy

__all__ = ["ROLES", "RequestContext", "Turn", "build_context", "validate_messages"]

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_TEXT_PARTS = frozenset({"text", "input_text"})
_IMAGE_PARTS = frozenset({"image_url", "input_image"})


@dataclass(frozen=True)
class Turn:
    """One user message of the request context."""

    index: int
    """Position in the message list."""
    text: str
    images: tuple[ImageInput, ...]


@dataclass(frozen=True)
class RequestContext:
    """What the key is computed from: the last user turn and a window of earlier ones."""

    turns: tuple[Turn, ...]
    skipped_images: tuple[SkippedImage, ...]

    @property
    def text(self) -> str:
        return "\n".join(t.text for t in self.turns if t.text)

    @property
    def images(self) -> tuple[ImageInput, ...]:
        return tuple(img for t in self.turns for img in t.images)

    @property
    def request_hash(self) -> str:
        return request_hash(self.text, tuple(i.sha256 for i in self.images))


def _parts(msg: Mapping[str, Any], where: str) -> list[Mapping[str, Any]] | str | None:
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
        _parts(msg, where)
    return messages


def build_context(messages: Any, *, context: ContextPolicy, images: ImagePolicy) -> RequestContext:
    """Validate ``messages`` and build the request context (decoding the window's images)."""
    msgs = validate_messages(messages, policy=context)
    user_idx = [i for i, m in enumerate(msgs) if m["role"] == "user"]
    if not user_idx:
        raise MessageFormatError("messages: no user message to guard")
    window = user_idx[-(context.earlier_user_turns + 1) :]
    turns: list[Turn] = []
    skipped: list[SkippedImage] = []
    n_images = 0
    n_chars = 0
    for i in window:
        where = f"messages[{i}]"
        content = _parts(msgs[i], where)
        texts: list[str] = []
        imgs: list[ImageInput] = []
        if isinstance(content, str):
            texts.append(content)
        elif content is not None:
            for j, part in enumerate(content):
                ptype = part["type"]
                if ptype in _TEXT_PARTS:
                    texts.append(part["text"])
                elif ptype in _IMAGE_PARTS:
                    n_images += 1
                    pwhere = f"{where}.content[{j}]"
                    if n_images > images.max_images:
                        raise InputTooLargeError(
                            f"{pwhere}: more than images.max_images={images.max_images} images"
                        )
                    got = resolve_image_url(_image_url(part, pwhere), where=pwhere, policy=images)
                    if isinstance(got, SkippedImage):
                        skipped.append(got)
                    else:
                        imgs.append(got)
        text = "\n".join(t for t in texts if t.strip())
        n_chars += len(text)
        if n_chars > context.max_text_chars:
            raise InputTooLargeError(
                f"{where}: request context text exceeds context.max_text_chars="
                f"{context.max_text_chars}"
            )
        turns.append(Turn(index=i, text=text, images=tuple(imgs)))
    return RequestContext(turns=tuple(turns), skipped_images=tuple(skipped))
