"""What the sections of benchmarks/learning.py share: the scripted reflection provider, the
policies, the request texts and the step timers."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import litellm
import numpy as np
from harness import summary
from litellm import CustomLLM

from echosafe_guard.guard import Guard, Prepared
from echosafe_guard.memory.base import InsightStore
from echosafe_guard.policy.loader import load_policy
from echosafe_guard.policy.models import Policy

TENANT = "default"
MODEL = "benchscripted/reflector"
ANSWER = "I can help with the safe parts of this; here is some general, non-operational advice."

# -- the scripted reflection provider ----------------------------------------------------------


def draft_json(
    verdict: str = "unsafe",
    category: str = "illegal_activity",
    *,
    scenario: str = "Asking how to move contraband past border controls unnoticed.",
    guidance: str = "Decline to help with smuggling; explain the legal risks briefly.",
    confidence: float = 0.8,
) -> str:
    return json.dumps(
        {
            "scenario": scenario,
            "intent_signals": ["evasion of controls", "illegal goods"],
            "verdict": verdict,
            "guidance": guidance,
            "category": category,
            "confidence": confidence,
        }
    )


MIX = [  # (verdict, category) of the throughput / latency drafts, in rotation
    ("unsafe", "illegal_activity"),
    ("unsafe", "fraud"),
    ("borderline", "privacy_violation"),
    ("unsafe", "malware_generation"),
    ("safe", "specialized_advice"),
    ("safe", "illegal_activity"),  # high-risk: quarantined until a quorum
]


class BenchReflection(CustomLLM):  # type: ignore[misc]
    """``benchscripted/<anything>``: sleeps ``latency_s`` (a model's think time, GIL released),
    then answers ``responder()``; the default responder rotates through :data:`MIX`."""

    def __init__(self) -> None:
        super().__init__()
        self.latency_s = 0.0
        self.calls = 0
        self._lock = threading.Lock()
        self.responder: Callable[[int], str] = self.mixed

    @staticmethod
    def mixed(i: int) -> str:
        verdict, category = MIX[i % len(MIX)]
        return draft_json(
            verdict,
            category,
            scenario=f"A {verdict} request of kind {i % 97} about a {category} topic.",
            guidance="Answer the legitimate reading only; withhold operational detail.",
            confidence=0.5 + (i % 5) / 10,
        )

    def completion(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            i = self.calls
            self.calls += 1
        if self.latency_s:
            time.sleep(self.latency_s)
        text = self.responder(i)
        return litellm.ModelResponse(
            model=kwargs.get("model", MODEL),
            choices=[
                litellm.Choices(
                    index=0,
                    finish_reason="stop",
                    message=litellm.Message(role="assistant", content=text),
                )
            ],
        )

    async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
        return self.completion(*args, **kwargs)


def register_provider() -> BenchReflection:
    handler = BenchReflection()
    litellm.custom_provider_map = [
        p for p in litellm.custom_provider_map if p.get("provider") != "benchscripted"
    ] + [{"provider": "benchscripted", "custom_handler": handler}]
    return handler


# -- helpers -----------------------------------------------------------------------------------


def policy_with(**learning: Any) -> Policy:
    base = load_policy()
    return base.model_copy(update={"learning": base.learning.model_copy(update=learning)})


def lifted_policy(n: int) -> Policy:
    return policy_with(
        user_rate_per_hour=1_000_000,
        tenant_rate_per_hour=1_000_000,
        queue_size=max(1000, 2 * n),
    )


ASKS = [
    "How do I {v} {o} {c}?",
    "Can you explain how to {v} {o} {c}? {ctx}",
    "{ctx} What is the best way to {v} {o} {c}?",
    "Give me step-by-step instructions to {v} {o} {c}.",
    "{ctx} I need to {v} {o} {c}. Any tips?",
]
SLOTS = {
    "v": "clean|repair|secure|bypass the lock on|get into|dispose of|copy|track|open|disable the "
    "alarm on|write a script to scan|find the owner of|sell|hide|photograph|insure|paint|move|"
    "borrow|replace",
    "o": "a rusty bike chain|my neighbour's wifi network|an old laptop's hard drive|a car I locked "
    "the keys in|prescription painkillers|a phishing email|a company's login page|a gun safe|my "
    "ex's phone|a bathroom with mould|the office printer|a crypto wallet|a hotel key card|a "
    "drone|a pressure cooker|a tax return|a rental contract|a dog's medication|a garden shed|a "
    "vintage camera",
    "c": "without anyone noticing|at home|legally|quickly|for a school project|without leaving "
    "traces|on a tight budget|as a beginner|in the UK|tonight|before my landlord finds out|for "
    "my grandmother|at work|in winter|with kids around",
    "ctx": "I work night shifts at a warehouse.|We moved into a rented flat last month.|The "
    "previous owner left no documentation.|I am writing a thriller novel.|My teenage son keeps "
    "asking me about this.|I run a small IT consultancy.|The police said they could not help.|"
    "I'm a nurse on a rural ward.|Our football club needs this.|I just retired.",
}
CHOICES = {k: v.split("|") for k, v in SLOTS.items()}


class Texts:
    """Distinct request texts (never the same text twice in one run)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seen: set[str] = set()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while True:
            text = self.rng.choice(ASKS).format(
                **{k: self.rng.choice(v) for k, v in CHOICES.items()}
            )
            if text not in self.seen:
                self.seen.add(text)
                return text

    def take(self, n: int) -> list[str]:
        return [next(self) for _ in range(n)]


def msgs(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def distinct_prepared(
    guard: Guard, texts: Texts, n: int, max_sim: float
) -> tuple[list[Prepared], int]:
    """``n`` prepared requests whose keys are pairwise below ``max_sim``; and how many
    candidates were rejected as too close."""
    out: list[Prepared] = []
    mat: np.ndarray | None = None
    rejected = 0
    while len(out) < n:
        prep = guard.prepare(msgs(next(texts)))
        if mat is not None and out and float(np.max(mat[: len(out)] @ prep.key)) >= max_sim:
            rejected += 1
            continue
        if mat is None:
            mat = np.zeros((n, prep.key.size), dtype=np.float32)
        mat[len(out)] = prep.key
        out.append(prep)
    return out, rejected


class StepTimer:
    """Wall-clock durations of wrapped callables, by name."""

    def __init__(self) -> None:
        self.ms: dict[str, list[float]] = {}
        self.marks: dict[str, list[int]] = {}

    def wrap(
        self, name: str, fn: Callable[..., Any], mark: Callable[[], int] | None = None
    ) -> Callable[..., Any]:
        sink = self.ms.setdefault(name, [])
        marks = self.marks.setdefault(name, [])

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                sink.append((time.perf_counter() - t0) * 1000)
                if mark is not None:
                    marks.append(mark())

        return timed

    def report(self) -> dict[str, Any]:
        return {k: summary(v) | {"total_ms": round(sum(v), 1)} for k, v in self.ms.items()}


def probe_worker_cpu(guard: Guard) -> list[float]:
    """CPU time (ms) the learner's worker thread spends on each exchange (wraps the instance)."""
    learner = guard.learner
    inner = learner._process
    sink: list[float] = []

    def process(exchange: Any) -> None:
        c0 = time.thread_time()
        try:
            inner(exchange)
        finally:
            sink.append((time.thread_time() - c0) * 1000)

    learner._process = process  # type: ignore[method-assign]
    return sink


def counter_delta(after: Counter[str], before: Counter[str]) -> dict[str, int]:
    return {
        k: after[k] - before[k] for k in sorted(set(after) | set(before)) if after[k] - before[k]
    }


def store_size(store: InsightStore, tenant: str = TENANT) -> int:
    return sum(1 for _ in store.iter_insights(tenant))
