"""A request refused as too large is refused unread: the guardrail hands LiteLLM's failure path
one short placeholder message instead of the body.

Found by the soak: LiteLLM 1.106's failure logging walks the messages of every refused request
and kept about 4 MB of native memory per 5,001-message request (``late_growth`` over its limit).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from echosafe_guard.integrations.litellm.guardrail import EchoSafeGuardrail
from fastapi import HTTPException

from tests.security.helpers import make_guard

ADMIN = SimpleNamespace(
    user_id="default_user_id", team_id=None, user_role="proxy_admin", token="hashed-master"
)


def refuse(rail: EchoSafeGuardrail, data: dict[str, Any]) -> HTTPException:
    with pytest.raises(HTTPException) as err:
        asyncio.run(rail.async_pre_call_hook(ADMIN, None, data, "acompletion"))
    assert err.value.status_code == 400
    return err.value


def test_an_oversized_request_reaches_litellms_failure_path_as_one_short_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECHOSAFE_LEARNING_STATUS", str(tmp_path / "status.json"))
    guard = make_guard(tmp_path)
    try:
        rail = EchoSafeGuardrail(guard=guard)
        many: dict[str, Any] = {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}] * 5_001,
        }
        assert "max_messages" in str(refuse(rail, many).detail)
        (stub,) = many["messages"]
        assert stub["role"] == "user" and stub["content"].startswith("[echosafe: refused unread:")
        assert len(stub["content"]) < 300

        long_text = {"model": "m", "messages": [{"role": "user", "content": "x" * 200_001}]}
        refuse(rail, long_text)
        assert len(long_text["messages"][0]["content"]) < 300

        # a malformed request of ordinary size keeps its messages for the operator's error log
        odd: dict[str, Any] = {"model": "m", "messages": [{"role": "wizard", "content": "hi"}]}
        refuse(rail, odd)
        assert odd["messages"] == [{"role": "wizard", "content": "hi"}]
    finally:
        guard.close()
