"""The draft GenAI semantic-convention names the guard emits. **They may change.**

Not merged upstream (the guardrail/security proposal is open-telemetry/semantic-conventions-genai
#427, the memory one is still a proposal): every draft name lives here, so a rename is one edit.
The names that exist in the incubating GenAI conventions (``gen_ai.operation.name``,
``gen_ai.data_source.id``, ...) are in :mod:`echosafe_guard.observability.tracing`.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "GUARDRAIL_APPLIED",
    "GUARDRAIL_MODE",
    "GUARDRAIL_NAME",
    "GUARDRAIL_VERDICT_REASON",
    "GUARDRAIL_VERDICT_SCORE",
    "GUARDRAIL_VERDICT_TYPE",
    "MEMORY_RECORD_COUNT",
    "MEMORY_STORE_ID",
    "OP_APPLY_GUARDRAIL",
    "OP_SEARCH_MEMORY",
    "OP_UPDATE_MEMORY",
    "SECURITY_POLICY_ID",
    "SECURITY_POLICY_VERSION",
    "SECURITY_RISK_CATEGORY",
]

OP_APPLY_GUARDRAIL: Final = "apply_guardrail"
"""``gen_ai.operation.name`` of the ``prepare`` span (draft value)."""
OP_SEARCH_MEMORY: Final = "search_memory"
OP_UPDATE_MEMORY: Final = "update_memory"

GUARDRAIL_NAME: Final = "gen_ai.guardrail.name"
GUARDRAIL_VERDICT_TYPE: Final = "gen_ai.guardrail.verdict.type"
"""``allow`` | ``caution`` | ``block``."""
GUARDRAIL_VERDICT_REASON: Final = "gen_ai.guardrail.verdict.reason"
GUARDRAIL_VERDICT_SCORE: Final = "gen_ai.guardrail.verdict.score"
"""The verdict model's ``p_unsafe`` (absent when there is none)."""
GUARDRAIL_MODE: Final = "gen_ai.guardrail.mode"
GUARDRAIL_APPLIED: Final = "gen_ai.guardrail.applied"

SECURITY_RISK_CATEGORY: Final = "gen_ai.security.risk.category"
SECURITY_POLICY_ID: Final = "gen_ai.security.policy.id"
SECURITY_POLICY_VERSION: Final = "gen_ai.security.policy.version"

MEMORY_STORE_ID: Final = "gen_ai.memory.store.id"
MEMORY_RECORD_COUNT: Final = "gen_ai.memory.record.count"
