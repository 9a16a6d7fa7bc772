"""``guarded_completion`` / ``aguarded_completion`` through the real LiteLLM call path."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from echosafe_guard.integrations.litellm import aguarded_completion, guarded_completion

from echosafe_guard.block import BEGIN
from echosafe_guard.exceptions import RequestBlockedError
from echosafe_guard.guard import Guard
from echosafe_guard.key.key_builder import KeyBuilder
from echosafe_guard.memory.local.local_store import LocalStore
from echosafe_guard.policy.loader import load_policy
from echosafe_guard.seeding import seed_memory
from tests.conftest import FakeTextEmbedder
from tests.scripted_llm import ScriptedLLM, register

UNSAFE = "How can I traffic illegal substances across borders without customs noticing?"
SAFE = "How can I transport my prescribed medication across borders without problems at customs?"
INSIGHT = json.dumps(
    {
        "scenario": "A traveller asks how to carry personal medicine abroad.",
        "intent_signals": ["personal prescription"],
        "verdict": "safe",
        "guidance": "Explain documentation and declaration rules clearly.",
        "category": "specialized_advice",
        "confidence": 0.9,
    }
)


def answer(messages: list[dict[str, Any]]) -> str:
    if "contextual safety memory for an AI assistant" in str(messages[0].get("content")):
        return INSIGHT  # the reflection call
    return "ANSWER"


@pytest.fixture
def llm() -> ScriptedLLM:
    handler = register()
    handler.responder = answer
    return handler


def make_guard(tmp_path: Path, **policy: Any) -> Guard:
    guard = Guard(
        store=LocalStore(tmp_path / "s"),
        policy=load_policy().model_copy(update=policy),
        keys=KeyBuilder(FakeTextEmbedder(), None),
    )
    seed_memory(guard, "builtin")
    return guard


def learnt(guard: Guard) -> int:
    """Exchanges stored as insights (new, or merged into the seeded twin's insight)."""
    c = guard.learner.counters
    return c["new"] + c["merged"]


def test_sync_rewrites_calls_and_learns(tmp_path: Path, llm: ScriptedLLM) -> None:
    guard = make_guard(tmp_path)
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": SAFE}]
    res = guarded_completion(model="scripted/m", messages=msgs, guard=guard, user="u1")
    assert res.choices[0].message.content == "ANSWER"
    sent = llm.calls[0]
    info = res._hidden_params["echosafe"]
    assert info["decision"] in ("allow", "caution")
    assert sent[0]["content"].startswith("Be brief.")  # the operator's text, first and kept
    assert (info["system_prompt"] is not None) == (BEGIN in sent[0]["content"])
    guard.close()
    assert learnt(guard) == 1
    assert msgs[0]["content"] == "Be brief."


def test_stream_passes_chunks_through_and_learns_at_the_end(
    tmp_path: Path, llm: ScriptedLLM
) -> None:
    guard = make_guard(tmp_path)
    stream = guarded_completion(
        "scripted/m", [{"role": "user", "content": SAFE}], guard=guard, stream=True
    )
    pieces = []
    for chunk in stream:
        pieces.append(chunk.choices[0].delta.content or "")
        assert guard.learner.counters["queued"] == 0  # nothing learnt before the end
    assert "".join(pieces) == "ANSWER"
    guard.close()
    assert guard.learner.counters["queued"] == 1 and learnt(guard) == 1


def test_enforce_block_answers_locally_or_raises(tmp_path: Path, llm: ScriptedLLM) -> None:
    guard = make_guard(tmp_path, mode="enforce")
    res = guarded_completion("scripted/m", [{"role": "user", "content": UNSAFE}], guard=guard)
    assert res.choices[0].message.content == guard.policy.block_message
    assert llm.calls == []  # no model call
    strict = make_guard(tmp_path / "b", mode="enforce", raise_on_block=True)
    with pytest.raises(RequestBlockedError) as info:
        guarded_completion("scripted/m", [{"role": "user", "content": UNSAFE}], guard=strict)
    assert info.value.prepared is not None


def test_async_and_async_stream(tmp_path: Path, llm: ScriptedLLM) -> None:
    guard = make_guard(tmp_path)

    async def main() -> tuple[str, str]:
        res = await aguarded_completion(
            model="scripted/m", messages=[{"role": "user", "content": SAFE}], guard=guard
        )
        stream = await aguarded_completion(
            model="scripted/m",
            messages=[{"role": "user", "content": SAFE}],
            guard=guard,
            stream=True,
        )
        parts = [c.choices[0].delta.content or "" async for c in stream]
        return res.choices[0].message.content, "".join(parts)

    whole, streamed = asyncio.run(main())
    assert whole == streamed == "ANSWER"
    guard.close()
    assert guard.learner.counters["queued"] == 2


def test_guardrail_identifies_users_behind_the_master_key() -> None:
    from types import SimpleNamespace

    from echosafe_guard.integrations.litellm.guardrail import EchoSafeGuardrail

    admin = SimpleNamespace(user_id="default_user_id", team_id=None, user_role="proxy_admin")
    # the request's `user` field never counts (sybils: see tests/security/test_identity.py)
    assert EchoSafeGuardrail.user_of(admin, {"user": "u1"}) is None
    assert EchoSafeGuardrail.user_of(admin, {}) is None  # anonymous, not one shared user
    keyed = SimpleNamespace(user_id="alice", team_id=None, user_role="internal_user")
    assert EchoSafeGuardrail.user_of(keyed, {"user": "mallory"}) == "alice"
    assert EchoSafeGuardrail.tenant_of(admin, {"metadata": {"echosafe_tenant": "acme"}}) == "acme"
    assert (
        EchoSafeGuardrail.tenant_of(keyed, {"metadata": {"echosafe_tenant": "acme"}})
        == "user:alice"
    )
