"""Guarding ``ChatMessage`` lists (``ImageBlock``s included) for LLM calls and chat engines.

* :func:`guard_messages` / :func:`aguard_messages`: the messages with the guard's block in the
  system message, and the :class:`~echosafe_guard.prepared.Prepared` to learn from later;
* :func:`guarded_chat` / :func:`aguarded_chat`: prepare → ``llm.chat`` → learn from the reply;
* :func:`guarded_stream_chat` / :func:`aguarded_stream_chat`: the LLM's deltas as they arrive,
  learning from the whole reply when the stream ends;
* :func:`guarded_engine_chat`: a chat engine's ``chat`` with the guard's system message at the
  head of ``chat_history``.

The reply carries the decision in ``additional_kwargs["echosafe"]`` (``summary(texts=False)``,
``AgentChatResponse.metadata`` for an engine) and each call emits an ``EchoSafeDecisionEvent``.
A request blocked in ``enforce`` mode is answered with the policy's ``block_message`` without a
model call (or raises :class:`~echosafe_guard.exceptions.RequestBlockedError` with
``raise_on_block``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.chat_engine.types import AgentChatResponse, BaseChatEngine
from llama_index.core.llms import LLM

from echosafe_guard.exceptions import MessageFormatError, RequestBlockedError
from echosafe_guard.guard import Guard
from echosafe_guard.policy.models import Mode
from echosafe_guard.prepared import Prepared

from .events import emit
from .messages import apply_prepared, to_turns

__all__ = [
    "GuardedMessages",
    "aguard_messages",
    "aguarded_chat",
    "aguarded_stream_chat",
    "guard_messages",
    "guarded_chat",
    "guarded_engine_chat",
    "guarded_stream_chat",
]


@dataclass(frozen=True)
class GuardedMessages:
    """The messages to send (the guard's block in the system message) and the decision."""

    messages: list[ChatMessage]
    prepared: Prepared

    @property
    def blocked(self) -> bool:
        return self.prepared.blocked

    def learn(self, guard: Guard, reply: str | None, *, user: str | None = None) -> bool:
        """Schedule learning from the model's reply (never blocks)."""
        return guard.learn(self.prepared, reply or "", user=user)


def guard_messages(
    guard: Guard,
    messages: Sequence[ChatMessage],
    *,
    tenant: str = "default",
    mode: Mode | str | None = None,
) -> GuardedMessages:
    """Prepare ``messages``: their text and images keyed, the block written into the system
    message (the user's own text kept; ``messages`` are not changed)."""
    prep = guard.prepare(to_turns(messages, guard.policy.images), tenant=tenant, mode=mode)
    emit(prep, "chat")
    return GuardedMessages(apply_prepared(messages, prep), prep)


async def aguard_messages(
    guard: Guard,
    messages: Sequence[ChatMessage],
    *,
    tenant: str = "default",
    mode: Mode | str | None = None,
) -> GuardedMessages:
    """As :func:`guard_messages`; image bytes and files are read off the event loop."""
    turns = await asyncio.to_thread(to_turns, messages, guard.policy.images)
    prep = await guard.aprepare(turns, tenant=tenant, mode=mode)
    emit(prep, "chat")
    return GuardedMessages(apply_prepared(messages, prep), prep)


def _blocked(guard: Guard, g: GuardedMessages) -> ChatResponse:
    if guard.policy.raise_on_block:
        raise RequestBlockedError(f"request blocked: {g.prepared.decision.reason}", g.prepared)
    text = guard.policy.block_message
    return ChatResponse(
        message=ChatMessage(role=MessageRole.ASSISTANT, content=text),
        delta=text,
        additional_kwargs={"echosafe": g.prepared.summary(texts=False)},
    )


def _answered(response: ChatResponse, g: GuardedMessages) -> ChatResponse:
    response.additional_kwargs = {
        **response.additional_kwargs,
        "echosafe": g.prepared.summary(texts=False),
    }
    return response


def guarded_chat(
    llm: LLM,
    messages: Sequence[ChatMessage],
    *,
    guard: Guard,
    tenant: str = "default",
    user: str | None = None,
    mode: Mode | str | None = None,
    **kwargs: Any,
) -> ChatResponse:
    """``llm.chat(messages)`` with the guard in front and learning behind."""
    g = guard_messages(guard, messages, tenant=tenant, mode=mode)
    if g.blocked:
        return _blocked(guard, g)
    response = llm.chat(g.messages, **kwargs)
    g.learn(guard, response.message.content, user=user)
    return _answered(response, g)


async def aguarded_chat(
    llm: LLM,
    messages: Sequence[ChatMessage],
    *,
    guard: Guard,
    tenant: str = "default",
    user: str | None = None,
    mode: Mode | str | None = None,
    **kwargs: Any,
) -> ChatResponse:
    """As :func:`guarded_chat`, with ``llm.achat`` and ``Guard.aprepare``."""
    g = await aguard_messages(guard, messages, tenant=tenant, mode=mode)
    if g.blocked:
        return _blocked(guard, g)
    response = await llm.achat(g.messages, **kwargs)
    g.learn(guard, response.message.content, user=user)
    return _answered(response, g)


def guarded_stream_chat(
    llm: LLM,
    messages: Sequence[ChatMessage],
    *,
    guard: Guard,
    tenant: str = "default",
    user: str | None = None,
    mode: Mode | str | None = None,
    **kwargs: Any,
) -> Iterator[ChatResponse]:
    """``llm.stream_chat(messages)``: each response as it arrives (the first one annotated);
    learning from the whole reply once the stream ends."""
    g = guard_messages(guard, messages, tenant=tenant, mode=mode)
    if g.blocked:
        yield _blocked(guard, g)
        return
    last: ChatResponse | None = None
    for response in llm.stream_chat(g.messages, **kwargs):
        yield _answered(response, g) if last is None else response
        last = response
    if last is not None:
        g.learn(guard, last.message.content, user=user)


async def aguarded_stream_chat(
    llm: LLM,
    messages: Sequence[ChatMessage],
    *,
    guard: Guard,
    tenant: str = "default",
    user: str | None = None,
    mode: Mode | str | None = None,
    **kwargs: Any,
) -> AsyncIterator[ChatResponse]:
    """As :func:`guarded_stream_chat`, with ``llm.astream_chat``."""
    g = await aguard_messages(guard, messages, tenant=tenant, mode=mode)
    if g.blocked:
        yield _blocked(guard, g)
        return
    last: ChatResponse | None = None
    async for response in await llm.astream_chat(g.messages, **kwargs):
        yield _answered(response, g) if last is None else response
        last = response
    if last is not None:
        g.learn(guard, last.message.content, user=user)


def guarded_engine_chat(
    engine: BaseChatEngine,
    message: str | ChatMessage,
    *,
    guard: Guard,
    chat_history: Sequence[ChatMessage] | None = None,
    tenant: str = "default",
    user: str | None = None,
    mode: Mode | str | None = None,
) -> AgentChatResponse:
    """``engine.chat(message, chat_history=…)`` with the guard's system message at the head of
    the history. The key reads ``message`` (a ``ChatMessage`` may carry ``ImageBlock``s) and
    the history; pass the history on every call (``engine.chat_history`` works: an earlier
    guard block in it is replaced, never repeated)."""
    msg = message if isinstance(message, ChatMessage) else ChatMessage(content=message)
    history = list(chat_history or [])
    g = guard_messages(guard, [*history, msg], tenant=tenant, mode=mode)
    meta = {"echosafe": g.prepared.summary(texts=False)}
    if g.blocked:
        return AgentChatResponse(response=_blocked(guard, g).message.content or "", metadata=meta)
    response = engine.chat(msg.content or "", chat_history=g.messages[:-1])
    if not isinstance(response, AgentChatResponse):  # a streaming engine: use stream_chat
        raise MessageFormatError("guarded_engine_chat: the engine returned a streaming response")
    g.learn(guard, response.response, user=user)
    response.metadata = {**(response.metadata or {}), **meta}
    return response
