"""The LlamaIndex adapter with real LlamaIndex objects: ``MockLLM`` (it echoes its prompt, so
the tests read what the model received) and ``MockEmbedding`` over a small vector index."""

from __future__ import annotations

import asyncio
import base64
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from echosafe_guard.integrations.llamaindex import (
    EchoSafeDecisionEvent,
    EchoSafeNodePostprocessor,
    aguarded_chat,
    guarded_chat,
    guarded_engine_chat,
    guarded_stream_chat,
    to_turns,
)
from llama_index.core import VectorStoreIndex
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, MessageRole, TextBlock
from llama_index.core.bridge.pydantic import Field
from llama_index.core.chat_engine import ContextChatEngine, SimpleChatEngine
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.llms import MockLLM
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from echosafe_guard.block import BEGIN
from echosafe_guard.exceptions import MissingExtraError
from echosafe_guard.guard import Guard
from tests.frameworks import SAFE, TENANT, UNSAFE, RecordingReflector, make_guard, png_bytes

DOCS = [
    "Travellers must declare prescription medicine at customs and carry the prescription.",
    "Customs officers may inspect luggage; undeclared goods can be confiscated.",
    "Most countries limit personal medicine to a ninety-day supply.",
]


class Events(BaseEventHandler):
    seen: list[EchoSafeDecisionEvent] = Field(default_factory=list)

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, EchoSafeDecisionEvent):
            self.seen.append(event)


@pytest.fixture
def events() -> Iterator[Events]:
    handler = Events()
    root = get_dispatcher()
    root.add_event_handler(handler)
    yield handler
    root.event_handlers.remove(handler)


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[Guard, RecordingReflector]:
    return make_guard(tmp_path)


def index() -> VectorStoreIndex:
    nodes = [TextNode(text=t) for t in DOCS]
    return VectorStoreIndex(nodes, embed_model=MockEmbedding(embed_dim=8))


def test_query_engine_puts_the_insights_on_top(
    seeded: tuple[Guard, RecordingReflector], events: Events
) -> None:
    guard, _ = seeded
    pp = EchoSafeNodePostprocessor(guard=guard, tenant=TENANT)
    engine = index().as_query_engine(llm=MockLLM(), node_postprocessors=[pp], similarity_top_k=2)
    response = engine.query(UNSAFE)
    top = response.source_nodes[0]
    assert top.node.get_content().startswith(BEGIN)
    assert [n.node.get_content() for n in response.source_nodes[1:]] != []
    prompt = str(response)  # MockLLM answers with the prompt it was given
    context = prompt.index(BEGIN)
    assert all(prompt.index(n.node.get_content()) > context for n in response.source_nodes[1:])
    assert "echosafe_decision" not in prompt  # the guard node's metadata stays out
    (event,) = events.seen
    assert event.source == "postprocessor" and event.decision["decision"] == "caution"


def test_context_chat_engine_keeps_its_system_prompt(
    seeded: tuple[Guard, RecordingReflector],
) -> None:
    guard, _ = seeded
    pp = EchoSafeNodePostprocessor(guard=guard, tenant=TENANT)
    engine = ContextChatEngine.from_defaults(
        retriever=index().as_retriever(similarity_top_k=2),
        llm=MockLLM(),
        node_postprocessors=[pp],
        system_prompt="You are a travel assistant.",
    )
    answer = engine.chat(UNSAFE).response
    assert "You are a travel assistant." in answer and BEGIN in answer
    found = [answer.index(d) for d in DOCS if d in answer]
    assert found and all(answer.index(BEGIN) < i for i in found)  # the guard's node first


def test_unsafe_duplicates_dropped_and_enforce_keeps_only_the_guard(
    seeded: tuple[Guard, RecordingReflector], events: Events
) -> None:
    guard, _ = seeded
    nodes = [NodeWithScore(node=TextNode(text=t), score=0.5) for t in (UNSAFE, DOCS[0])]
    kept_all = EchoSafeNodePostprocessor(guard=guard, tenant=TENANT).postprocess_nodes(
        nodes, query_str=SAFE
    )
    assert [n.node.node_id for n in kept_all][-2:] == [n.node.node_id for n in nodes]
    pp = EchoSafeNodePostprocessor(guard=guard, tenant=TENANT, drop_unsafe_duplicates=True)
    kept = pp.postprocess_nodes(nodes, query_str=SAFE)
    assert nodes[0] not in kept and nodes[1] in kept
    assert events.seen[-1].dropped == [nodes[0].node.node_id]
    enforce = EchoSafeNodePostprocessor(guard=guard, tenant=TENANT, mode="enforce")
    (only,) = enforce.postprocess_nodes(nodes, query_str=UNSAFE)
    assert only.node.get_content().startswith(BEGIN)
    assert events.seen[-1].decision["blocked"] is True
    shadow = EchoSafeNodePostprocessor(guard=guard, tenant=TENANT, mode="shadow")
    assert shadow.postprocess_nodes(nodes, query_str=UNSAFE) == nodes


def test_query_image_path_changes_the_key(
    tmp_path: Path, tiny_clip_config: Path, events: Events
) -> None:
    guard, _ = make_guard(tmp_path, clip_config=tiny_clip_config)
    image = tmp_path / "photo.png"
    image.write_bytes(png_bytes())
    pp = EchoSafeNodePostprocessor(guard=guard, tenant=TENANT)
    pp.postprocess_nodes([], QueryBundle(query_str="What is this?"))
    asyncio.run(pp.apostprocess_nodes([], QueryBundle("What is this?", image_path=str(image))))
    text_only, with_image = (e.decision for e in events.seen)
    assert text_only["image_part"] == "none" and with_image["image_part"] == "live"
    assert text_only["request_hash"] != with_image["request_hash"]


def test_image_blocks_bytes_path_and_url_change_the_key(
    tmp_path: Path, tiny_clip_config: Path
) -> None:
    guard, _ = make_guard(tmp_path, clip_config=tiny_clip_config)
    raw = png_bytes()
    (tmp_path / "p.png").write_bytes(raw)
    url = "data:image/png;base64," + base64.b64encode(raw).decode()
    text = TextBlock(text="What is in this picture?")
    plain = guard.prepare(to_turns([ChatMessage(blocks=[text])], guard.policy.images))
    keys = []
    for block in (ImageBlock(image=raw), ImageBlock(path=tmp_path / "p.png"), ImageBlock(url=url)):
        turns = to_turns([ChatMessage(blocks=[text, block])], guard.policy.images)
        prep = guard.prepare(turns, tenant=TENANT)
        assert prep.image_part.value == "live"
        keys.append(prep.key)
    assert not np.allclose(plain.key, keys[0])
    for k in keys[1:]:
        np.testing.assert_allclose(k, keys[0], atol=1e-6)


def test_guarded_chat_sets_the_system_prompt_and_learns(
    seeded: tuple[Guard, RecordingReflector], events: Events
) -> None:
    guard, reflector = seeded
    messages = [
        ChatMessage(role=MessageRole.SYSTEM, content="Be brief."),
        ChatMessage(role=MessageRole.USER, content=UNSAFE),
    ]
    response = guarded_chat(MockLLM(), messages, guard=guard, tenant=TENANT, user="u1")
    sent = response.message.content or ""
    assert "Be brief.\n\n" + BEGIN in sent  # the own text kept, the block after it
    assert messages[0].content == "Be brief."
    assert response.additional_kwargs["echosafe"]["decision"] == "caution"
    assert events.seen[-1].source == "chat"
    again = asyncio.run(aguarded_chat(MockLLM(), messages, guard=guard, tenant=TENANT))
    assert (again.message.content or "").count(BEGIN) == 1
    guard.close()
    assert [e.response_text for e in reflector.exchanges] == [sent, again.message.content]


def test_guarded_stream_chat_yields_before_the_end(
    seeded: tuple[Guard, RecordingReflector],
) -> None:
    guard, reflector = seeded
    stream = guarded_stream_chat(
        MockLLM(), [ChatMessage(role=MessageRole.USER, content=UNSAFE)], guard=guard, tenant=TENANT
    )
    first = next(stream)
    assert first.delta and first.additional_kwargs["echosafe"]["decision"] == "caution"
    assert guard.learner.counters["queued"] == 0
    rest = list(stream)
    assert len(rest) > 10
    guard.close()
    assert BEGIN in reflector.exchanges[0].response_text


def test_chat_engine_helper_and_blocked_requests(
    seeded: tuple[Guard, RecordingReflector],
) -> None:
    guard, reflector = seeded
    engine = SimpleChatEngine.from_defaults(llm=MockLLM())
    first = guarded_engine_chat(engine, UNSAFE, guard=guard, tenant=TENANT)
    assert BEGIN in first.response and first.metadata is not None
    second = guarded_engine_chat(
        engine, UNSAFE, guard=guard, tenant=TENANT, chat_history=engine.chat_history
    )
    systems = [m for m in engine.chat_history if m.role == MessageRole.SYSTEM]
    assert len(systems) == 1 and (systems[0].content or "").count(BEGIN) == 1  # replaced
    assert second.response.startswith("system: " + BEGIN)
    blocked = guarded_chat(
        MockLLM(), [ChatMessage(content=UNSAFE)], guard=guard, tenant=TENANT, mode="enforce"
    )
    assert blocked.message.content == guard.policy.block_message
    guard.close()
    assert len(reflector.exchanges) == 2


def test_importing_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name.startswith("echosafe_guard.integrations.llamaindex"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "llama_index.core", None)
    with pytest.raises(MissingExtraError, match=r"echosafe-guard\[llamaindex\]"):
        importlib.import_module("echosafe_guard.integrations.llamaindex")
