"""The ``eval`` run's records: its configuration, one result row per case, and the outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from echosafe_guard.bench.memory_spec import MemorySpec
from echosafe_guard.exceptions import InputError

__all__ = ["EvalConfig", "EvalOutcome", "GuardSetting", "ResultRow"]

GuardSetting = Literal["off", "on"]


@dataclass(frozen=True)
class EvalConfig:
    model: str
    out: Path
    guards: tuple[GuardSetting, ...] = ("off", "on")
    memory: MemorySpec = field(default_factory=lambda: MemorySpec("empty"))
    concurrency: int = 4
    tenant: str = "eval"
    score_seeded: bool = False
    max_attempts: int = 3
    backoff_s: float = 1.0
    timeout_s: float = 120.0
    shuffle_seed: int = 0
    system: str | None = None
    """The operator's system prompt sent with every case (the guard appends its block to it)."""
    completion_kwargs: dict[str, Any] = field(
        default_factory=lambda: {"temperature": 0, "max_tokens": 512}
    )

    def __post_init__(self) -> None:
        if not self.model.strip():
            raise InputError("--model must be a LiteLLM model id")
        if not 1 <= self.concurrency <= 256:
            raise InputError("--concurrency must be 1..256")
        if not self.guards or any(g not in ("off", "on") for g in self.guards):
            raise InputError("--guard must be off, on or both")
        if self.max_attempts < 1:
            raise InputError("max_attempts must be >= 1")


class ResultRow(BaseModel):
    """One line of ``results.jsonl``."""

    model_config = ConfigDict(frozen=True)

    order: int
    id: str
    pair_id: str
    label: Literal["unsafe", "safe"]
    category: str
    source_category: str
    mode: str
    guard: GuardSetting
    memory: str | None
    text: str
    image: str | None
    response: str | None
    refused: bool | None
    judge_label: str | None
    quality: float | None
    rationale: str | None
    decision: str | None
    insights: int
    memory_size: int | None
    scored: bool
    cached: bool
    latency_ms: float | None
    error: str | None = None
    reason: str | None = None
    """The guard's decision reason (guard on)."""
    p_unsafe: float | None = None
    """The verdict model's probability that the request is unsafe (guard on)."""
    block_tokens: int | None = None
    """Estimated tokens of the block the guard wrote into this request's system prompt."""
    leaked: bool | None = None
    """The answer narrates or pastes the guard's block (guard on, a block written)."""
    pasted: str | None = None
    """The longest run of block words the answer repeats, when it leaked."""


@dataclass(frozen=True)
class EvalOutcome:
    rows: tuple[ResultRow, ...]
    wall_s: dict[str, float]
    model_calls: int
    cache_hits: int
    held_out: str
    learning: dict[str, int] = field(default_factory=dict)
    """Online memory: the learner's counters (stored, merged, quarantined, dropped, ...)."""
