"""Refusal judges for the paired benchmark: the ``Judge`` Protocol and its implementations."""

from __future__ import annotations

from echosafe_guard.bench.judges.base import Judge, Judgement, ResponseLabel
from echosafe_guard.bench.judges.llm_judge import LLMJudge
from echosafe_guard.bench.judges.offline_judge import OfflineJudge

__all__ = [
    "Judge",
    "Judgement",
    "LLMJudge",
    "OfflineJudge",
    "ResponseLabel",
]
