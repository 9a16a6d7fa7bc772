"""LangChain messages ⇄ the guard's turns, and the guard's block in a ``SystemMessage``.

Images are read from ``BaseMessage.content_blocks``, LangChain's own translation to its standard
blocks, so the standard ``{"type": "image", "base64" | "url", "mime_type"}`` form
(``create_image_block``), LangChain's v0 ``source_type`` form and the legacy OpenAI ``image_url``
form all arrive as ``image`` blocks. The string form ``{"type": "image_url", "image_url": "..."}``
that the translation leaves as ``non_standard`` is read here. An image named only by a provider's
``file_id`` cannot be read and is not part of the key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.prompt_values import PromptValue

from echosafe_guard.block import merge_system_parts, merge_system_text
from echosafe_guard.context import ImageRef, Turn
from echosafe_guard.exceptions import MessageFormatError
from echosafe_guard.prepared import Prepared

__all__ = [
    "apply_prepared",
    "block_answer",
    "guarded_system_message",
    "to_messages",
    "to_turns",
]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def to_messages(value: Any) -> list[BaseMessage]:
    """A chat model's input as a message list: a ``PromptValue``, a sequence of
    ``BaseMessage`` or a string (one human message)."""
    if isinstance(value, PromptValue):
        return value.to_messages()
    if isinstance(value, str):
        return [HumanMessage(content=value)]
    if isinstance(value, Sequence) and all(isinstance(m, BaseMessage) for m in value):
        return list(value)
    raise MessageFormatError(
        f"expected a PromptValue, a list of BaseMessage or a string, got {type(value).__name__}"
    )


def _role(msg: BaseMessage) -> str:
    role = getattr(msg, "role", None)  # ChatMessage carries its own role
    if msg.type == "chat" and isinstance(role, str):
        return {"human": "user", "ai": "assistant"}.get(role, role)
    return _ROLES.get(msg.type, msg.type)


def _image_url(block: Mapping[str, Any]) -> str | None:
    """The URL (``data:`` for inline base64) of one content block, None if it is no image."""
    kind = block.get("type")
    if kind == "image":
        if isinstance(block.get("url"), str):
            return str(block["url"])
        if isinstance(block.get("base64"), str):
            mime = block.get("mime_type") or "image/png"
            return f"data:{mime};base64,{block['base64']}"
        return None  # a provider file_id: nothing the guard can read
    if kind == "non_standard" and isinstance(block.get("value"), Mapping):
        value = block["value"]
        if value.get("type") == "image_url":
            url = value.get("image_url")
            if isinstance(url, Mapping):
                url = url.get("url")
            return url if isinstance(url, str) else None
    return None


def to_turns(messages: Sequence[BaseMessage]) -> list[Turn]:
    """One :class:`~echosafe_guard.context.Turn` per message: its text, its role and, for
    the images of its content blocks, an :class:`~echosafe_guard.context.ImageRef` each."""
    turns: list[Turn] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, BaseMessage):
            raise MessageFormatError(f"messages[{i}]: expected a BaseMessage, got {type(msg)}")
        texts: list[str] = []
        images: list[ImageRef] = []
        for j, block in enumerate(msg.content_blocks):
            if block.get("type") == "text":
                texts.append(str(block.get("text", "")))
                continue
            url = _image_url(block)
            if url is not None:
                images.append(ImageRef(url, where=f"messages[{i}].content[{j}]"))
        turns.append(Turn(text="\n".join(texts), images=tuple(images), role=_role(msg), index=i))
    return turns


def guarded_system_message(own: SystemMessage | None, prep: Prepared) -> SystemMessage | None:
    """``own`` with the guard's block in place of any earlier one (a new message; ``own`` is
    never changed). The user's text is kept; ``None`` in and no block: ``None``."""
    block = prep.system_prompt
    if own is None:
        return SystemMessage(content=block) if block is not None else None
    content = own.content
    new: str | list[str | dict[str, Any]] = (
        merge_system_text(content, block)
        if isinstance(content, str)
        else merge_system_parts(content, block)
    )
    return own.model_copy(update={"content": new})


def apply_prepared(messages: Sequence[BaseMessage], prep: Prepared) -> list[BaseMessage]:
    """``messages`` with the guard's block in the first system message (added at the top when
    there is none); the other messages are the same objects. Unchanged when the decision is not
    applied (``shadow``)."""
    out = list(messages)
    if not prep.decision.applied:
        return out
    for i, msg in enumerate(out):
        if isinstance(msg, SystemMessage):
            new = guarded_system_message(msg, prep)
            assert new is not None
            out[i] = new
            return out
    first = guarded_system_message(None, prep)
    return [first, *out] if first is not None else out


def block_answer(text: str, prep: Prepared, *, chunk: bool = False) -> AIMessage:
    """The answer to a request blocked in ``enforce`` mode, made locally (no model call)."""
    meta = {"echosafe": prep.summary(texts=False)}
    if chunk:
        return AIMessageChunk(content=text, response_metadata=meta, chunk_position="last")
    return AIMessage(content=text, response_metadata=meta)
