"""``guarded(model, guard=…)``: prepare → the chat model → learn, as one LangChain Runnable.

``invoke`` / ``ainvoke`` / ``batch`` / ``abatch`` / ``stream`` / ``astream`` are each real:
``batch`` prepares every input and hands the guarded message lists to the model's own ``batch``;
``stream`` passes the model's chunks through as they arrive and schedules learning from the whole
text when the stream ends (a stream abandoned half-way teaches nothing). The answer carries the
decision in ``response_metadata["echosafe"]`` (``summary(texts=False)``), and the run's metadata
carries the full summary. A request blocked in ``enforce`` mode is answered with the policy's
``block_message`` without calling the model, or raises
:class:`~echosafe_guard.exceptions.RequestBlockedError` with ``raise_on_block``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.runnables import (
    Runnable,
    RunnableConfig,
    RunnableSerializable,
    ensure_config,
    get_config_list,
)
from pydantic import ConfigDict

from echosafe_guard.guard import Guard
from echosafe_guard.policy.models import Mode
from echosafe_guard.prepared import Prepared

from .messages import apply_prepared, block_answer, to_messages, to_turns
from .runnable import blocked_error, decision_config, one, raising, who

__all__ = ["GuardedChatModel", "guarded"]

_Started = tuple[list[BaseMessage], Prepared] | Exception


def _text(message: Any) -> str:
    return message.text if isinstance(message, BaseMessage) else str(message)


def _annotated(message: Any, prep: Prepared) -> Any:
    if not isinstance(message, BaseMessage):
        return message
    meta = {**message.response_metadata, "echosafe": prep.summary(texts=False)}
    return message.model_copy(update={"response_metadata": meta})


class GuardedChatModel(RunnableSerializable[LanguageModelInput, BaseMessage]):
    """A chat model (any Runnable from messages to a message) with the guard in front and
    learning behind. Build it with :func:`guarded`."""

    model: Runnable[Any, Any]
    guard: Guard
    tenant: str = "default"
    mode: Mode | None = None
    learn: bool = True
    user: str | None = None

    model_config = ConfigDict(arbitrary_types_allowed=True)

    # -- the steps every entry point shares --------------------------------------------------

    def _who(self, config: RunnableConfig) -> tuple[str, str | None]:
        tenant, user = who(config, self.tenant)
        return tenant, user or self.user

    def _start(self, value: Any, tenant: str) -> tuple[list[BaseMessage], Prepared]:
        messages = to_messages(value)
        return messages, self.guard.prepare(to_turns(messages), tenant=tenant, mode=self.mode)

    async def _astart(self, value: Any, tenant: str) -> tuple[list[BaseMessage], Prepared]:
        messages = to_messages(value)
        prep = await self.guard.aprepare(to_turns(messages), tenant=tenant, mode=self.mode)
        return messages, prep

    def _blocked(self, prep: Prepared, *, chunk: bool = False) -> BaseMessage:
        if self.guard.policy.raise_on_block:
            raise blocked_error(prep)
        return block_answer(self.guard.policy.block_message, prep, chunk=chunk)

    def _done(self, prep: Prepared, answer: str, user: str | None) -> None:
        if self.learn:
            self.guard.learn(prep, answer, user=user)

    def _finish(self, out: Any, prep: Prepared, user: str | None) -> Any:
        self._done(prep, _text(out), user)
        return _annotated(out, prep)

    # -- invoke ----------------------------------------------------------------------------------

    def invoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        config = ensure_config(config)
        tenant, user = self._who(config)
        try:
            messages, prep = self._start(input, tenant)
        except Exception as exc:
            return self._call_with_config(raising(exc), input, config)

        def call(
            _: LanguageModelInput, run_manager: CallbackManagerForChainRun, config: RunnableConfig
        ) -> BaseMessage:
            if prep.blocked:
                return self._blocked(prep)
            out = self.model.invoke(apply_prepared(messages, prep), config, **kwargs)
            result: BaseMessage = self._finish(out, prep, user)
            return result

        return self._call_with_config(call, input, decision_config(config, prep))

    async def ainvoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> BaseMessage:
        config = ensure_config(config)
        tenant, user = self._who(config)
        try:
            messages, prep = await self._astart(input, tenant)
        except Exception as exc:
            fail = raising(exc)

            async def afail(value: Any) -> BaseMessage:
                result: BaseMessage = fail(value)
                return result

            return await self._acall_with_config(afail, input, config)

        async def call(
            _: LanguageModelInput,
            run_manager: AsyncCallbackManagerForChainRun,
            config: RunnableConfig,
        ) -> BaseMessage:
            if prep.blocked:
                return self._blocked(prep)
            out = await self.model.ainvoke(apply_prepared(messages, prep), config, **kwargs)
            result: BaseMessage = self._finish(out, prep, user)
            return result

        return await self._acall_with_config(call, input, decision_config(config, prep))

    # -- batch -----------------------------------------------------------------------------------

    def _batch_call(
        self,
        started: list[_Started],
        users: list[str | None],
        results: Sequence[Any],
        todo: list[int],
    ) -> list[Any]:
        outs: list[Any] = []
        done = dict(zip(todo, results, strict=True))
        for i, s in enumerate(started):
            if isinstance(s, Exception):
                outs.append(s)
            elif s[1].blocked:
                try:
                    outs.append(self._blocked(s[1]))
                except Exception as exc:
                    outs.append(exc)
            elif isinstance(done[i], Exception):
                outs.append(done[i])
            else:
                outs.append(self._finish(done[i], s[1], users[i]))
        return outs

    @staticmethod
    def _todo(started: list[_Started]) -> list[int]:
        return [
            i for i, s in enumerate(started) if not isinstance(s, Exception) and not s[1].blocked
        ]

    @staticmethod
    def _run_configs(started: list[_Started], configs: list[RunnableConfig]) -> list[Any]:
        return [
            c if isinstance(s, Exception) else decision_config(c, s[1])
            for s, c in zip(started, configs, strict=True)
        ]

    def batch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[BaseMessage]:
        if not inputs:
            return []
        configs = get_config_list(config, len(inputs))
        who_ = [self._who(c) for c in configs]
        started: list[_Started] = []
        for value, (tenant, _) in zip(inputs, who_, strict=True):
            try:
                started.append(self._start(value, tenant))
            except Exception as exc:
                started.append(exc)
        todo = self._todo(started)

        def call(
            _: list[LanguageModelInput],
            run_manager: list[CallbackManagerForChainRun],
            config: list[RunnableConfig],
        ) -> list[Exception | BaseMessage]:
            calls = [apply_prepared(*started[i]) for i in todo]  # type: ignore[misc]
            results = (
                self.model.batch(calls, [config[i] for i in todo], return_exceptions=True, **kwargs)
                if todo
                else []
            )
            return self._batch_call(started, [u for _, u in who_], results, todo)

        return self._batch_with_config(
            call,
            inputs,
            self._run_configs(started, configs),
            return_exceptions=return_exceptions,
        )

    async def abatch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[BaseMessage]:
        if not inputs:
            return []
        configs = get_config_list(config, len(inputs))
        who_ = [self._who(c) for c in configs]
        got = await asyncio.gather(
            *(self._astart(v, t) for v, (t, _) in zip(inputs, who_, strict=True)),
            return_exceptions=True,
        )
        started: list[_Started] = []
        for g in got:
            if isinstance(g, BaseException) and not isinstance(g, Exception):
                raise g
            started.append(g)
        todo = self._todo(started)

        async def call(
            _: list[LanguageModelInput],
            run_manager: list[AsyncCallbackManagerForChainRun],
            config: list[RunnableConfig],
        ) -> list[Exception | BaseMessage]:
            calls = [apply_prepared(*started[i]) for i in todo]  # type: ignore[misc]
            results = (
                await self.model.abatch(
                    calls, [config[i] for i in todo], return_exceptions=True, **kwargs
                )
                if todo
                else []
            )
            return self._batch_call(started, [u for _, u in who_], results, todo)

        return await self._abatch_with_config(
            call,
            inputs,
            self._run_configs(started, configs),
            return_exceptions=return_exceptions,
        )

    # -- stream ----------------------------------------------------------------------------------

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        **kwargs: Any | None,
    ) -> Iterator[BaseMessage]:
        config = ensure_config(config)
        tenant, user = self._who(config)
        try:
            messages, prep = self._start(input, tenant)
        except Exception as exc:
            fail = raising(exc)

            def failing(values: Iterator[Any]) -> Iterator[BaseMessage]:
                yield fail(next(values))

            yield from self._transform_stream_with_config(iter([input]), failing, config)
            return

        def chunks(
            values: Iterator[LanguageModelInput],
            run_manager: CallbackManagerForChainRun,
            config: RunnableConfig,
        ) -> Iterator[BaseMessage]:
            for _ in values:
                pass
            if prep.blocked:
                yield self._blocked(prep, chunk=True)
                return
            parts: list[str] = []
            first = True
            for chunk in self.model.stream(apply_prepared(messages, prep), config, **kwargs):
                parts.append(_text(chunk))
                yield _annotated(chunk, prep) if first else chunk
                first = False
            self._done(prep, "".join(parts), user)

        yield from self._transform_stream_with_config(
            iter([input]), chunks, decision_config(config, prep)
        )

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        **kwargs: Any | None,
    ) -> AsyncIterator[BaseMessage]:
        config = ensure_config(config)
        tenant, user = self._who(config)
        try:
            messages, prep = await self._astart(input, tenant)
        except Exception as exc:
            fail = raising(exc)

            async def failing(values: AsyncIterator[Any]) -> AsyncIterator[BaseMessage]:
                async for value in values:
                    yield fail(value)

            async for c in self._atransform_stream_with_config(one(input), failing, config):
                yield c
            return

        async def chunks(
            values: AsyncIterator[LanguageModelInput],
            run_manager: AsyncCallbackManagerForChainRun,
            config: RunnableConfig,
        ) -> AsyncIterator[BaseMessage]:
            async for _ in values:
                pass
            if prep.blocked:
                yield self._blocked(prep, chunk=True)
                return
            parts: list[str] = []
            first = True
            stream = self.model.astream(apply_prepared(messages, prep), config, **kwargs)
            async for chunk in stream:
                parts.append(_text(chunk))
                yield _annotated(chunk, prep) if first else chunk
                first = False
            self._done(prep, "".join(parts), user)

        async for c in self._atransform_stream_with_config(
            one(input), chunks, decision_config(config, prep)
        ):
            yield c


def guarded(
    model: Runnable[Any, Any],
    *,
    guard: Guard,
    tenant: str = "default",
    mode: Mode | str | None = None,
    learn: bool = True,
    user: str | None = None,
) -> GuardedChatModel:
    """``model`` behind the guard: ``guarded(ChatOpenAI(...), guard=guard).invoke(messages)``.

    ``tenant`` and ``user`` are defaults; a run's ``configurable`` ``tenant`` / ``user`` win."""
    return GuardedChatModel(
        model=model,
        guard=guard,
        tenant=tenant,
        mode=Mode(mode) if mode is not None else None,
        learn=learn,
        user=user,
    )
