"""``EchoSafeMiddleware``: the guard inside a LangChain 1.x agent (``create_agent``).

* ``wrap_model_call`` / ``awrap_model_call`` key the conversation (``request.messages``, images
  included) and write the guard's block into ``request.system_message`` through
  ``ModelRequest.override``; the agent's own system prompt is kept.
* A request blocked in ``enforce`` mode is answered with the policy's ``block_message`` without
  calling the model: an answer without tool calls, so the agent's run ends there (or
  :class:`~echosafe_guard.exceptions.RequestBlockedError` with ``raise_on_block``).
* ``after_model`` schedules learning from the final answer (not from tool-call steps).

Every model answer carries the decision in ``response_metadata["echosafe"]``
(``summary(texts=False)``). The tenant and the user come from the run's ``configurable``
(``tenant``, ``user``), else from the middleware's defaults.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from langchain.agents.middleware import (
    AgentMiddleware,
    AgentState,
    ExtendedModelResponse,
    ModelRequest,
    ModelResponse,
)
from langchain_core.messages import AIMessage, BaseMessage
from langgraph.config import get_config
from langgraph.runtime import Runtime

from echosafe_guard.guard import Guard
from echosafe_guard.policy.models import Mode
from echosafe_guard.prepared import Prepared

from .messages import block_answer, guarded_system_message, to_turns
from .runnable import blocked_error, who

__all__ = ["EchoSafeMiddleware"]

_Result = ModelResponse[Any] | AIMessage | ExtendedModelResponse[Any]


class EchoSafeMiddleware(AgentMiddleware[AgentState[Any], Any, Any]):
    """The guard as agent middleware: ``create_agent(model, tools, middleware=[EchoSafeMiddleware(
    guard=guard, tenant="acme")])``. ``learn=False`` only rewrites; ``mode`` overrides the
    policy's mode."""

    def __init__(
        self,
        *,
        guard: Guard,
        tenant: str = "default",
        user: str | None = None,
        mode: Mode | str | None = None,
        learn: bool = True,
        max_pending: int = 1024,
    ) -> None:
        super().__init__()
        self.guard = guard
        self.tenant = tenant
        self.user = user
        self.mode = Mode(mode) if mode is not None else None
        self.learn = learn
        self._max_pending = max_pending
        self._pending: OrderedDict[str, tuple[Prepared, str | None]] = OrderedDict()
        self._lock = threading.Lock()

    # -- who and what -----------------------------------------------------------------------------

    def _who(self) -> tuple[str, str | None]:
        try:
            config = get_config()
        except RuntimeError:  # called outside a graph run
            return self.tenant, self.user
        tenant, user = who(config, self.tenant)
        return tenant, user or self.user

    def _request(self, request: ModelRequest[Any], prep: Prepared) -> ModelRequest[Any]:
        if not prep.decision.applied:
            return request
        return request.override(system_message=guarded_system_message(request.system_message, prep))

    def _blocked(self, prep: Prepared) -> AIMessage:
        if self.guard.policy.raise_on_block:
            raise blocked_error(prep)
        return block_answer(self.guard.policy.block_message, prep)

    def _remember(self, message: AIMessage, prep: Prepared, user: str | None) -> AIMessage:
        """The answer with the decision in its metadata (and an id to find it again in
        ``after_model``)."""
        meta = {**message.response_metadata, "echosafe": prep.summary(texts=False)}
        update: dict[str, Any] = {"response_metadata": meta}
        if not message.id:
            update["id"] = f"echosafe-{uuid.uuid4()}"
        out = message.model_copy(update=update)
        assert out.id is not None
        with self._lock:
            self._pending[out.id] = (prep, user)
            while len(self._pending) > self._max_pending:
                self._pending.popitem(last=False)
        return out

    def _annotated(self, result: _Result, prep: Prepared, user: str | None) -> _Result:
        if isinstance(result, AIMessage):
            return self._remember(result, prep, user)
        response = result.model_response if isinstance(result, ExtendedModelResponse) else result
        messages: list[BaseMessage] = [
            self._remember(m, prep, user) if isinstance(m, AIMessage) else m
            for m in response.result
        ]
        response.result = messages
        return result

    # -- the model call ---------------------------------------------------------------------------

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> _Result:
        tenant, user = self._who()
        prep = self.guard.prepare(to_turns(request.messages), tenant=tenant, mode=self.mode)
        if prep.blocked:
            return self._blocked(prep)
        return self._annotated(handler(self._request(request, prep)), prep, user)

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> _Result:
        tenant, user = self._who()
        prep = await self.guard.aprepare(to_turns(request.messages), tenant=tenant, mode=self.mode)
        if prep.blocked:
            return self._blocked(prep)
        return self._annotated(await handler(self._request(request, prep)), prep, user)

    # -- learning ---------------------------------------------------------------------------------

    def after_model(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        messages = state.get("messages") or []
        last = messages[-1] if messages else None
        if not isinstance(last, AIMessage) or not last.id:
            return None
        with self._lock:
            found = self._pending.pop(last.id, None)
        if found is None or last.tool_calls or not self.learn:
            return None  # a tool-call step: the answer comes later
        prep, user = found
        self.guard.learn(prep, last.text, user=user)
        return None

    async def aafter_model(
        self, state: AgentState[Any], runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        return self.after_model(state, runtime)  # learn() never blocks
