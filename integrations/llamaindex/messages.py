"""LlamaIndex ``ChatMessage`` lists ⇄ the guard's turns, and the block in the system message.

An ``ImageBlock`` is read from its ``image`` bytes (or stream), its ``path`` or its ``url``, under
the policy's image limits: bytes and files are checked here, a URL becomes an
:class:`~echosafe_guard.context.ImageRef` that the guard decodes (``data:``) or fetches only from
an allow-listed host. Nothing here fetches a URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from io import IOBase
from pathlib import Path

from llama_index.core.base.llms.types import (
    ChatMessage,
    ContentBlock,
    ImageBlock,
    MessageRole,
    TextBlock,
)
from llama_index.core.schema import QueryBundle

from echosafe_guard.block import BEGIN, merge_system_text, strip_block
from echosafe_guard.context import ImageRef, Turn
from echosafe_guard.exceptions import MessageFormatError
from echosafe_guard.images import ImageInput, image_from_bytes, image_from_file
from echosafe_guard.policy.models import ImagePolicy
from echosafe_guard.prepared import Prepared

__all__ = ["apply_prepared", "query_turns", "to_turns"]

_ASSISTANT = {"assistant", "chatbot", "model"}


def _image(block: ImageBlock, where: str, policy: ImagePolicy) -> ImageInput | ImageRef | None:
    if block.image is not None:
        if isinstance(block.image, IOBase):
            block.image.seek(0)
            raw = block.image.read()
        else:
            raw = block.resolve_image().read()  # the block keeps its bytes base64-encoded
        return image_from_bytes(raw, where=where, source="bytes", policy=policy)
    if block.path is not None:
        return image_from_file(block.path, policy=policy)
    if block.url is not None:
        return ImageRef(str(block.url), where=where)
    return None


def to_turns(messages: Sequence[ChatMessage], policy: ImagePolicy) -> list[Turn]:
    """One turn per message: the text of its ``TextBlock``s and its ``ImageBlock``s (bytes and
    files checked against ``policy`` here; URLs left to the guard)."""
    turns: list[Turn] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, ChatMessage):
            raise MessageFormatError(f"messages[{i}]: expected a ChatMessage, got {type(msg)}")
        texts: list[str] = []
        images: list[ImageInput | ImageRef] = []
        for j, block in enumerate(msg.blocks):
            if isinstance(block, TextBlock):
                texts.append(block.text)
            elif isinstance(block, ImageBlock):
                got = _image(block, f"messages[{i}].blocks[{j}]", policy)
                if got is not None:
                    images.append(got)
        role = msg.role.value
        turns.append(
            Turn(
                text="\n".join(texts),
                images=tuple(images),
                role="assistant" if role in _ASSISTANT else role,
                index=i,
            )
        )
    return turns


def query_turns(query: QueryBundle, policy: ImagePolicy) -> list[Turn]:
    """The query as one user turn, with its ``image_path`` (a file, or a ``data:``/``http(s)``
    URL) when it has one."""
    images: list[ImageInput | ImageRef] = []
    path = query.image_path
    if path:
        if path.startswith(("data:", "http://", "https://")):
            images.append(ImageRef(path, where="query.image_path"))
        else:
            images.append(image_from_file(Path(path), policy=policy))
    return [Turn(text=query.query_str, images=tuple(images), role="user")]


def _system_blocks(blocks: Sequence[ContentBlock], block: str | None) -> list[ContentBlock]:
    if len(blocks) == 1 and isinstance(blocks[0], TextBlock):
        merged = merge_system_text(blocks[0].text, block)
        return [blocks[0].model_copy(update={"text": merged})] if merged else []
    out: list[ContentBlock] = []
    for b in blocks:
        if isinstance(b, TextBlock) and BEGIN in b.text:
            rest = strip_block(b.text)
            if rest.strip():
                out.append(b.model_copy(update={"text": rest}))
        else:
            out.append(b)
    if block is not None:
        out.append(TextBlock(text=block))
    return out


def apply_prepared(messages: Sequence[ChatMessage], prep: Prepared) -> list[ChatMessage]:
    """``messages`` with the guard's block in the first system message (added at the top when
    there is none; an earlier block replaced, the user's own text kept). The other messages are
    the same objects; unchanged when the decision is not applied (``shadow``)."""
    out = list(messages)
    if not prep.decision.applied:
        return out
    block = prep.system_prompt
    for i, msg in enumerate(out):
        if msg.role == MessageRole.SYSTEM:
            out[i] = msg.model_copy(update={"blocks": _system_blocks(msg.blocks, block)})
            return out
    if block is not None:
        out.insert(0, ChatMessage(role=MessageRole.SYSTEM, content=block))
    return out
