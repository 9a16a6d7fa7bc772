"""``EchoSafeMiddleware`` inside a real ``create_agent`` loop with a tool."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from echosafe_guard.integrations.langchain import EchoSafeMiddleware
from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from echosafe_guard.block import BEGIN
from echosafe_guard.guard import Guard
from tests.frameworks import TENANT, UNSAFE, RecordingReflector, make_guard


class ToolCallingFake(GenericFakeChatModel):
    """LangChain's fake chat model, accepting tools (create_agent binds them)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ToolCallingFake:
        return self


class Sent(BaseCallbackHandler):
    def __init__(self) -> None:
        self.calls: list[list[BaseMessage]] = []

    def on_chat_model_start(
        self, serialized: Any, messages: list[list[BaseMessage]], **kwargs: Any
    ) -> None:
        self.calls.append(messages[0])


looked_up: list[str] = []


@tool
def customs_rules(country: str) -> str:
    """The customs rules for travellers entering a country."""
    looked_up.append(country)
    return f"{country}: declare prescription medicine and carry the prescription."


def script() -> ToolCallingFake:
    call = {"name": "customs_rules", "args": {"country": "France"}, "id": "c1"}
    return ToolCallingFake(
        messages=iter([AIMessage(content="", tool_calls=[call]), AIMessage(content="Declare it.")])
    )


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[Guard, RecordingReflector]:
    looked_up.clear()
    return make_guard(tmp_path)


def test_agent_loop_with_a_tool_gets_the_block_and_learns_the_answer(
    seeded: tuple[Guard, RecordingReflector],
) -> None:
    guard, reflector = seeded
    sent = Sent()
    agent = create_agent(
        script(),
        [customs_rules],
        system_prompt="You are a travel assistant.",
        middleware=[EchoSafeMiddleware(guard=guard)],
    )
    state = agent.invoke(
        {"messages": [HumanMessage(UNSAFE)]},
        config={"callbacks": [sent], "configurable": {"tenant": TENANT, "user": "u1"}},
    )
    assert looked_up == ["France"]  # the tool ran between the two model calls
    assert len(sent.calls) == 2
    for call in sent.calls:  # both model calls: the agent's prompt kept, the block after it
        assert call[0].type == "system"
        assert call[0].content.startswith("You are a travel assistant.\n\n" + BEGIN)
    assert isinstance(sent.calls[1][-1], ToolMessage)
    final = state["messages"][-1]
    assert final.content == "Declare it."
    assert final.response_metadata["echosafe"]["decision"] == "caution"
    guard.close()
    (ex,) = reflector.exchanges  # the final answer only, not the tool-call step
    assert ex.response_text == "Declare it." and ex.tenant == TENANT


def test_enforce_block_ends_the_run_without_a_model_call(
    seeded: tuple[Guard, RecordingReflector],
) -> None:
    guard, reflector = seeded
    sent = Sent()
    agent = create_agent(
        script(),
        [customs_rules],
        middleware=[EchoSafeMiddleware(guard=guard, tenant=TENANT, mode="enforce")],
    )
    state = agent.invoke({"messages": [HumanMessage(UNSAFE)]}, config={"callbacks": [sent]})
    assert sent.calls == [] and looked_up == []
    assert [m.type for m in state["messages"]] == ["human", "ai"]
    assert state["messages"][-1].content == guard.policy.block_message
    guard.close()
    assert reflector.exchanges == []


def test_async_agent(seeded: tuple[Guard, RecordingReflector]) -> None:
    guard, reflector = seeded
    sent = Sent()
    agent = create_agent(
        script(), [customs_rules], middleware=[EchoSafeMiddleware(guard=guard, tenant=TENANT)]
    )
    state = asyncio.run(
        agent.ainvoke({"messages": [HumanMessage(UNSAFE)]}, config={"callbacks": [sent]})
    )
    assert state["messages"][-1].content == "Declare it."
    assert all(c[0].content.startswith(BEGIN) for c in sent.calls) and len(sent.calls) == 2
    guard.close()
    assert [e.response_text for e in reflector.exchanges] == ["Declare it."]
