"""The LangChain runnables with real LangChain objects and LangChain's own fake chat models."""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import pytest
from echosafe_guard.integrations.langchain import EchoSafeRunnable, guarded, to_turns
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.messages.content import create_image_block
from langchain_core.prompts import ChatPromptTemplate

from echosafe_guard.block import BEGIN
from echosafe_guard.exceptions import MissingExtraError, RequestBlockedError
from echosafe_guard.guard import Guard
from tests.frameworks import SAFE, TENANT, UNSAFE, RecordingReflector, make_guard, png_base64

ACME = {"configurable": {"tenant": TENANT, "user": "u1"}}


class Recorder(BaseCallbackHandler):
    """What the chat model was sent, and each chain run's metadata, by run name."""

    def __init__(self) -> None:
        self.sent: list[list[BaseMessage]] = []
        self.metadata: dict[str, dict[str, Any]] = {}

    def on_chat_model_start(
        self, serialized: Any, messages: list[list[BaseMessage]], **kwargs: Any
    ) -> None:
        self.sent.append(messages[0])

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.metadata[str(kwargs.get("name"))] = dict(kwargs.get("metadata") or {})


def fake(*answers: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=a) for a in answers]))


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[Guard, RecordingReflector]:
    return make_guard(tmp_path)


def test_prompt_guard_model_chain_rewrites_and_keeps_the_system_text(
    seeded: tuple[Guard, RecordingReflector],
) -> None:
    guard, _ = seeded
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{q}")])
    rec = Recorder()
    chain = prompt | EchoSafeRunnable(guard=guard) | fake("ANSWER")
    out = chain.with_config(configurable={"tenant": TENANT}).invoke(
        {"q": UNSAFE}, config={"callbacks": [rec]}
    )
    assert out.content == "ANSWER"
    system = rec.sent[0][0]
    assert isinstance(system, SystemMessage)
    assert system.content.startswith("Be brief.\n\n" + BEGIN)  # the user's text, first and kept
    assert rec.sent[0][1].content == UNSAFE
    meta = rec.metadata["EchoSafeRunnable"]["echosafe"]  # the decision, in the run's metadata
    assert meta["decision"] == "caution" and meta["tenant"] == TENANT
    assert meta["system_prompt"] in system.content


def test_runnable_output_idempotent_and_other_tenant_untouched(
    seeded: tuple[Guard, RecordingReflector],
) -> None:
    guard, _ = seeded
    step = EchoSafeRunnable(guard=guard, tenant=TENANT)
    once = step.invoke(UNSAFE)  # a plain string is one human message
    assert isinstance(once[0], SystemMessage) and once[0].content.startswith(BEGIN)
    twice = step.invoke(once)
    assert len(twice) == 2 and twice[0].content.count(BEGIN) == 1
    other = step.invoke([HumanMessage(UNSAFE)], config={"configurable": {"tenant": "nobody"}})
    assert [m.type for m in other] == ["human"]  # no insights: nothing added
    blocked = EchoSafeRunnable(guard=guard, tenant=TENANT, mode="enforce")
    with pytest.raises(RequestBlockedError):
        blocked.invoke(UNSAFE)
    async_out = asyncio.run(step.ainvoke([SystemMessage("Own."), HumanMessage(UNSAFE)]))
    assert async_out[0].content.startswith("Own.\n\n" + BEGIN)
    parts = [SystemMessage(content=[{"type": "text", "text": "Own."}]), HumanMessage(UNSAFE)]
    listed = step.invoke(step.invoke(parts))  # a content-part system message, guarded twice
    own, block = listed[0].content
    assert own == {"type": "text", "text": "Own."} and block["text"].startswith(BEGIN)


def test_an_image_changes_the_key_in_every_block_form(
    tmp_path: Path, tiny_clip_config: Path
) -> None:
    guard, _ = make_guard(tmp_path, clip_config=tiny_clip_config)
    b64 = png_base64()
    url = f"data:image/png;base64,{b64}"
    text = {"type": "text", "text": "What is in this picture?"}
    forms: list[Any] = [
        create_image_block(base64=b64, mime_type="image/png"),  # standard, v1
        {"type": "image", "url": url},
        {"type": "image", "source_type": "base64", "data": b64, "mime_type": "image/png"},  # v0
        {"type": "image_url", "image_url": {"url": url}},  # legacy OpenAI
        {"type": "image_url", "image_url": url},
    ]
    plain = guard.prepare(to_turns([HumanMessage(content=[text])]), tenant=TENANT)
    keys = []
    for form in forms:
        turns = to_turns([HumanMessage(content=[text, form])])
        assert len(turns[0].images) == 1, form
        prep = guard.prepare(turns, tenant=TENANT)
        assert prep.image_part.value == "live", prep.decision.notes
        keys.append(prep.key)
    assert not np.allclose(plain.key, keys[0])
    for k in keys[1:]:
        np.testing.assert_allclose(k, keys[0], atol=1e-6)  # one image, one key, any form


def test_guarded_invoke_learns_and_annotates(seeded: tuple[Guard, RecordingReflector]) -> None:
    guard, reflector = seeded
    rec = Recorder()
    model = guarded(fake("Here is how customs declarations work."), guard=guard)
    msgs = [SystemMessage("Be brief."), HumanMessage(UNSAFE)]
    out = model.invoke(msgs, config={**ACME, "callbacks": [rec]})
    assert out.text == "Here is how customs declarations work."
    assert out.response_metadata["echosafe"]["decision"] == "caution"
    assert "system_prompt" not in out.response_metadata["echosafe"]  # summary(texts=False)
    assert rec.sent[0][0].content.startswith("Be brief.\n\n" + BEGIN)
    assert msgs[0].content == "Be brief."  # the caller's messages are never changed
    assert rec.metadata["GuardedChatModel"]["echosafe"]["decision"] == "caution"
    guard.close()
    (ex,) = reflector.exchanges
    assert ex.response_text == out.text and ex.tenant == TENANT and ex.actor is not None


def test_guarded_batch_and_abatch_answer_blocked_items_locally(
    seeded: tuple[Guard, RecordingReflector],
) -> None:
    guard, reflector = seeded
    model = guarded(fake("a1", "a2", "a3", "a4"), guard=guard, tenant=TENANT, mode="enforce")
    outs = model.batch([SAFE, UNSAFE, "What is the capital of France?"])
    assert outs[1].text == guard.policy.block_message  # no model call for it
    assert sorted([outs[0].text, outs[2].text]) == ["a1", "a2"]
    aouts = asyncio.run(model.abatch([UNSAFE, SAFE]))
    assert aouts[0].text == guard.policy.block_message and aouts[1].text == "a3"
    assert all("echosafe" in o.response_metadata for o in [*outs, *aouts])
    guard.close()
    assert sorted(e.response_text for e in reflector.exchanges) == ["a1", "a2", "a3"]


def test_guarded_batch_returns_bad_input_as_an_exception(
    seeded: tuple[Guard, RecordingReflector],
) -> None:
    guard, _ = seeded
    model = guarded(fake("ok"), guard=guard, tenant=TENANT)
    outs = model.batch([SAFE, [SystemMessage("no user turn")]], return_exceptions=True)
    assert outs[0].text == "ok" and isinstance(outs[1], ValueError)


def test_guarded_stream_yields_before_the_end_and_learns_after(
    seeded: tuple[Guard, RecordingReflector],
) -> None:
    guard, reflector = seeded
    model = guarded(fake("one two three four"), guard=guard, tenant=TENANT)
    stream = model.stream(UNSAFE)
    first = next(stream)
    assert first.text == "one" and first.response_metadata["echosafe"]["decision"] == "caution"
    assert guard.learner.counters["queued"] == 0  # nothing learnt mid-stream
    rest = list(stream)
    assert len(rest) >= 3
    guard.close()
    assert reflector.exchanges[0].response_text == "one two three four"


def test_guarded_astream_yields_before_the_end(seeded: tuple[Guard, RecordingReflector]) -> None:
    guard, reflector = seeded
    model = guarded(fake("alpha beta gamma"), guard=guard, tenant=TENANT)

    async def run() -> tuple[int, list[str]]:
        queued_at_first = -1
        texts = []
        async for chunk in model.astream([HumanMessage(UNSAFE)]):
            if not texts:
                queued_at_first = guard.learner.counters["queued"]
            texts.append(chunk.text)
        return queued_at_first, texts

    queued, texts = asyncio.run(run())
    assert queued == 0 and "".join(texts) == "alpha beta gamma" and len(texts) >= 3
    guard.close()
    assert reflector.exchanges[0].response_text == "alpha beta gamma"


def test_guarded_blocked_stream_does_not_call_the_model(
    seeded: tuple[Guard, RecordingReflector],
) -> None:
    guard, reflector = seeded
    model = guarded(fake(), guard=guard, tenant=TENANT, mode="enforce")  # calling it fails
    chunks = list(model.stream(UNSAFE))
    assert "".join(c.text for c in chunks) == guard.policy.block_message
    guard.close()
    assert reflector.exchanges == []


def test_importing_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name.startswith("echosafe_guard.integrations.langchain"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "langchain_core", None)
    with pytest.raises(MissingExtraError, match=r"echosafe-guard\[langchain\]") as err:
        importlib.import_module("echosafe_guard.integrations.langchain")
    assert isinstance(err.value, ImportError)


def test_bad_input_is_a_clear_error(seeded: tuple[Guard, RecordingReflector]) -> None:
    guard, _ = seeded
    with pytest.raises(ValueError, match="PromptValue"):
        EchoSafeRunnable(guard=guard).invoke(42)  # type: ignore[arg-type]
