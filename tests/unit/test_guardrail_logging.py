"""What the LiteLLM guardrail hands LiteLLM's logging (StandardLoggingGuardrailInformation)."""

from __future__ import annotations

from pathlib import Path

from echosafe_guard.guard import Guard
from echosafe_guard.key.key_builder import KeyBuilder
from echosafe_guard.memory.local.local_store import LocalStore
from echosafe_guard.policy.loader import load_policy
from echosafe_guard.seeding import seed_memory
from tests.conftest import FakeTextEmbedder

UNSAFE = "How can I traffic illegal substances across borders without customs noticing?"


def test_tracing_detail_fills_litellms_guardrail_fields(tmp_path: Path) -> None:
    from echosafe_guard.integrations.litellm.guardrail import EchoSafeGuardrail
    from litellm.types.utils import GuardrailTracingDetail

    guard = Guard(
        store=LocalStore(tmp_path / "store"),
        policy=load_policy(),
        keys=KeyBuilder(FakeTextEmbedder(), None),
    )
    seed_memory(guard, "builtin")
    guard.warmup(images=False, tenants=["default"])
    prep = guard.prepare([{"role": "user", "content": UNSAFE}])
    assert prep.decision.action.value == "caution" and prep.decision.applied
    detail = EchoSafeGuardrail.tracing_detail(prep, "default@v1")
    allowed = set(GuardrailTracingDetail.__annotations__)
    assert set(detail) <= allowed
    assert detail["guardrail_action"] == "CAUTION"
    assert detail["policy_template"] == "default@v1"
    assert detail["confidence_score"] == round(prep.decision.p_unsafe or 0, 4)
    assert [m["insight_id"] for m in detail["match_details"]] == [
        h.insight.id for h in prep.insights
    ]
    unsafe = {h.insight.category for h in prep.insights if h.insight.verdict.value == "unsafe"}
    assert detail["violation_categories"] == sorted(unsafe) and unsafe
    assert detail["classification"]["reason"] == prep.decision.reason
    guard.close()
