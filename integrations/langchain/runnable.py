"""``EchoSafeRunnable``: the guard as a LangChain step, ``prompt | guard | model``.

It takes what a chat model takes (a ``PromptValue``, a list of ``BaseMessage`` or a string) and
returns the messages with the guard's block in the system message. The tenant (and the user,
for the steps that learn) come from ``configurable``::

    chain = prompt | EchoSafeRunnable(guard=guard) | model
    chain.invoke({...}, config={"configurable": {"tenant": "acme", "user": "u1"}})

The decision (``Prepared.summary()``) is the run's metadata under ``echosafe``: the guard decides
first, then opens the run, so tracers, ``astream_events`` and callbacks see it from the start.
A request blocked in ``enforce`` mode raises
:class:`~echosafe_guard.exceptions.RequestBlockedError` (the chain stops before the model; add
``.with_fallbacks`` to answer it), use :func:`guarded` to answer it with the block message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig, RunnableSerializable, ensure_config
from pydantic import ConfigDict

from echosafe_guard.exceptions import RequestBlockedError
from echosafe_guard.guard import Guard
from echosafe_guard.policy.models import Mode
from echosafe_guard.prepared import Prepared

from .messages import apply_prepared, to_messages, to_turns

__all__ = ["EchoSafeRunnable", "blocked_error", "decision_config", "one", "raising", "who"]


def who(config: RunnableConfig, tenant: str) -> tuple[str, str | None]:
    """The tenant and the user of a run: ``configurable["tenant"]`` (else ``tenant``) and
    ``configurable["user"]`` (else None)."""
    conf = config.get("configurable") or {}
    t, u = conf.get("tenant"), conf.get("user")
    return (t if isinstance(t, str) and t else tenant), (u if isinstance(u, str) and u else None)


def decision_config(config: RunnableConfig, prep: Prepared) -> RunnableConfig:
    """``config`` with the decision in its metadata (``echosafe``)."""
    out: RunnableConfig = {**config}
    out["metadata"] = {**(config.get("metadata") or {}), "echosafe": prep.summary()}
    return out


def raising(exc: BaseException) -> Callable[[Any], Any]:
    """A step that raises ``exc`` (a failure before the run opened is still traced as one)."""

    def fail(_: Any) -> Any:
        raise exc

    return fail


async def one(value: Any) -> AsyncIterator[Any]:
    yield value


def blocked_error(prep: Prepared) -> RequestBlockedError:
    return RequestBlockedError(f"request blocked: {prep.decision.reason}", prep)


class EchoSafeRunnable(RunnableSerializable[LanguageModelInput, list[BaseMessage]]):
    """Rewrites a chat model's input with the guard's block (see the module docstring).

    ``mode`` overrides the policy's mode for this step (``advise``, ``enforce``, ``shadow``)."""

    guard: Guard
    tenant: str = "default"
    mode: Mode | None = None

    model_config = ConfigDict(arbitrary_types_allowed=True)

    def _rewrite(self, messages: list[BaseMessage], prep: Prepared) -> Callable[[Any], Any]:
        def rewrite(_: Any) -> list[BaseMessage]:
            if prep.blocked:
                raise blocked_error(prep)
            return apply_prepared(messages, prep)

        return rewrite

    def invoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[BaseMessage]:
        config = ensure_config(config)
        tenant, _ = who(config, self.tenant)
        try:
            messages = to_messages(input)
            prep = self.guard.prepare(to_turns(messages), tenant=tenant, mode=self.mode)
        except Exception as exc:
            return self._call_with_config(raising(exc), input, config)
        return self._call_with_config(
            self._rewrite(messages, prep), input, decision_config(config, prep)
        )

    async def ainvoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[BaseMessage]:
        config = ensure_config(config)
        tenant, _ = who(config, self.tenant)
        try:
            messages = to_messages(input)
            prep = await self.guard.aprepare(to_turns(messages), tenant=tenant, mode=self.mode)
        except Exception as exc:
            fail = raising(exc)

            async def afail(value: Any) -> list[BaseMessage]:
                result: list[BaseMessage] = fail(value)
                return result

            return await self._acall_with_config(afail, input, config)
        rewrite = self._rewrite(messages, prep)

        async def arewrite(value: Any) -> list[BaseMessage]:
            result: list[BaseMessage] = rewrite(value)
            return result

        return await self._acall_with_config(arewrite, input, decision_config(config, prep))
