"""Medium 6: sybils through the request's ``user`` field. Only an authenticated id counts toward
the quorum; anonymous exchanges share one rate-limit bucket per key."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from echosafe_guard.integrations.litellm.guardrail import EchoSafeGuardrail

from echosafe_guard.memory.insight import InsightStatus
from tests.scripted_llm import ScriptedLLM, register
from tests.security.helpers import SAFE, draft, make_guard, stored

ADMIN = SimpleNamespace(
    user_id="default_user_id", team_id=None, user_role="proxy_admin", token="hashed-master"
)
NO_USER_KEY = SimpleNamespace(user_id=None, team_id=None, user_role="internal_user", token="k1")


def _headers(**h: str) -> dict[str, Any]:
    return {"proxy_server_request": {"headers": h}}


def test_the_request_user_field_never_identifies_anyone() -> None:
    for key in (ADMIN, NO_USER_KEY):
        assert EchoSafeGuardrail.user_of(key, {"user": "sock-1"}) is None
        assert EchoSafeGuardrail.user_of(key, {"user": "sock-1"}, "x-end-user-id") is None
    alice = SimpleNamespace(user_id="alice", team_id=None, user_role="internal_user")
    assert EchoSafeGuardrail.user_of(alice, {"user": "mallory"}) == "alice"


def test_only_a_header_the_operator_trusts_identifies_an_end_user() -> None:
    data = _headers(**{"X-End-User-Id": "bob"}) | {"user": "mallory"}
    assert EchoSafeGuardrail.user_of(ADMIN, data) is None  # not configured: not trusted
    assert EchoSafeGuardrail.user_of(ADMIN, data, "x-end-user-id") == "bob"
    assert EchoSafeGuardrail.user_of(ADMIN, _headers(), "x-end-user-id") is None


def test_three_fake_users_through_the_master_key_do_not_activate_a_quarantined_insight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECHOSAFE_LEARNING_STATUS", str(tmp_path / "status.json"))
    llm: ScriptedLLM = register()
    llm.responder = lambda messages: draft(verdict="safe")
    guard = make_guard(tmp_path, quorum=3)
    rail = EchoSafeGuardrail(guard=guard)

    async def exchange(n: int) -> None:
        data: dict[str, Any] = {
            "model": "scripted/m",
            "messages": [{"role": "user", "content": SAFE}],
            "user": f"sock-{n}",
            "litellm_call_id": f"call-{n}",
        }
        data = await rail.async_pre_call_hook(ADMIN, None, data, "acompletion") or data
        await rail.async_post_call_success_hook(data, ADMIN, "Sure, keep the prescription.")

    async def main() -> None:
        for n in range(5):
            await exchange(n)

    asyncio.run(main())
    guard.close()
    (ins,) = stored(guard)
    assert ins.status is InsightStatus.QUARANTINED and ins.provenance.supporters == ()


def test_anonymous_exchanges_share_one_rate_limit_bucket_per_key(tmp_path: Path) -> None:
    llm: ScriptedLLM = register()
    llm.responder = lambda messages: draft()
    guard = make_guard(tmp_path, user_rate_per_hour=3)
    prep = guard.prepare([{"role": "user", "content": SAFE}])
    got = [guard.learn(prep, "ok", model="scripted/m", bucket="key:k1") for _ in range(5)]
    assert got == [True] * 3 + [False] * 2
    assert guard.learn(prep, "ok", model="scripted/m", bucket="key:k2")  # another key
    no_bucket = [guard.learn(prep, "ok", model="scripted/m") for _ in range(4)]
    assert no_bucket == [True] * 3 + [False]  # anonymity never skips the limit
    guard.close()
    assert guard.learner.counters["dropped_rate_user"] == 3
