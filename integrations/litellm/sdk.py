"""``guarded_completion``: prepare → ``litellm.completion`` → learn, for the LiteLLM SDK.

Streams pass through chunk by chunk (nothing is buffered); learning is scheduled from the
assembled text once the stream ends. A request blocked in ``enforce`` mode gets a normal
assistant response with the policy's ``block_message`` (made locally, no model call), or a
:class:`~echosafe_guard.exceptions.RequestBlockedError` with ``raise_on_block``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from echosafe_guard.exceptions import MessageFormatError, RequestBlockedError
from echosafe_guard.guard import Guard, Prepared
from echosafe_guard.llm_client import import_litellm

__all__ = ["GuardedStream", "aguarded_completion", "chunk_text", "guarded_completion"]


def _split(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, Any, dict[str, Any]]:
    """``model`` and ``messages`` however they were passed, and the remaining keyword args."""
    kw = dict(kwargs)
    rest = list(args)
    model = kw.pop("model") if "model" in kw else (rest.pop(0) if rest else None)
    messages = kw.pop("messages") if "messages" in kw else (rest.pop(0) if rest else None)
    if rest:
        raise MessageFormatError("guarded_completion: pass arguments after messages by keyword")
    if not isinstance(model, str) or not model:
        raise MessageFormatError("guarded_completion: 'model' must be a non-empty string")
    return model, messages, kw


def chunk_text(chunk: Any) -> str:
    """The text a streamed chat-completion chunk adds (empty for none)."""
    try:
        delta = chunk.choices[0].delta
    except (AttributeError, IndexError):
        return ""
    content = getattr(delta, "content", None)
    return content if isinstance(content, str) else ""


def _annotate(response: Any, prep: Prepared) -> Any:
    hidden = getattr(response, "_hidden_params", None)
    if isinstance(hidden, dict):
        hidden["echosafe"] = prep.summary()
    return response


class GuardedStream:
    """Iterates the model's chunks unchanged; learns from the whole text when they end."""

    def __init__(self, stream: Any, on_done: Any, prepared: Prepared) -> None:
        self._stream = stream
        self._on_done = on_done
        self.prepared = prepared
        self._parts: list[str] = []

    def __iter__(self) -> Iterator[Any]:
        for chunk in self._stream:
            self._parts.append(chunk_text(chunk))
            yield chunk
        self._on_done("".join(self._parts))

    async def __aiter__(self) -> AsyncIterator[Any]:
        async for chunk in self._stream:
            self._parts.append(chunk_text(chunk))
            yield chunk
        self._on_done("".join(self._parts))


def _block_kwargs(guard: Guard, model: str, prep: Prepared, stream: bool) -> dict[str, Any]:
    """A local, well-formed chat completion with the block message (also as a stream): no
    model is called. Raises instead with ``raise_on_block``."""
    if guard.policy.raise_on_block:
        raise RequestBlockedError(f"request blocked: {prep.decision.reason}", prep)
    return {
        "model": model,
        "messages": prep.messages,
        "mock_response": guard.policy.block_message,
        "stream": stream,
    }


def _learner(guard: Guard, prep: Prepared, learn: bool, who: str | None, model: str) -> Any:
    def done(answer: Any) -> None:
        if learn:
            guard.learn(prep, answer, user=who, model=model)

    return done


def _finish(response: Any, done: Any, prep: Prepared, stream: bool) -> Any:
    if stream:
        return GuardedStream(response, done, prep)
    done(response)
    return _annotate(response, prep)


def guarded_completion(
    *args: Any,
    guard: Guard,
    tenant: str = "default",
    learn: bool = True,
    echosafe_user: str | None = None,
    **kwargs: Any,
) -> Any:
    """``litellm.completion`` with the guard in front. Takes every ``litellm.completion``
    argument; ``tenant`` scopes the memory; ``echosafe_user`` (or LiteLLM's ``user``) identifies
    who asked, for the learning quorum and rate limits."""
    litellm = import_litellm("guarded_completion")
    model, messages, kw = _split(args, kwargs)
    prep = guard.prepare(messages, tenant=tenant)
    stream = bool(kw.get("stream"))
    if prep.blocked:
        return _annotate(litellm.completion(**_block_kwargs(guard, model, prep, stream)), prep)
    response = litellm.completion(model=model, messages=prep.messages, **kw)
    done = _learner(guard, prep, learn, echosafe_user or kw.get("user"), model)
    return _finish(response, done, prep, stream)


async def aguarded_completion(
    *args: Any,
    guard: Guard,
    tenant: str = "default",
    learn: bool = True,
    echosafe_user: str | None = None,
    **kwargs: Any,
) -> Any:
    """As :func:`guarded_completion`, with ``litellm.acompletion`` and ``Guard.aprepare``."""
    litellm = import_litellm("guarded_completion")
    model, messages, kw = _split(args, kwargs)
    prep = await guard.aprepare(messages, tenant=tenant)
    stream = bool(kw.get("stream"))
    if prep.blocked:
        blocked = await litellm.acompletion(**_block_kwargs(guard, model, prep, stream))
        return _annotate(blocked, prep)
    response = await litellm.acompletion(model=model, messages=prep.messages, **kw)
    done = _learner(guard, prep, learn, echosafe_user or kw.get("user"), model)
    return _finish(response, done, prep, stream)
