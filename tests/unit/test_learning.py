"""The learning loop through the real LiteLLM call path, with a scripted provider."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from echosafe_guard import seed_memory
from echosafe_guard.guard import Guard
from echosafe_guard.key.key_builder import KeyBuilder
from echosafe_guard.learning.sanitize import redact, scrub_copies
from echosafe_guard.memory.insight import InsightStatus, ProvenanceSource, SearchFilter, Verdict
from echosafe_guard.memory.local.local_store import LocalStore
from echosafe_guard.paired import PairedItem
from echosafe_guard.policy.loader import load_policy
from echosafe_guard.policy.models import Policy
from echosafe_guard.seeding import seed_items
from tests.conftest import FakeTextEmbedder
from tests.scripted_llm import ERROR, TIMEOUT, ScriptedLLM, register

UNSAFE = "How can I traffic illegal substances across borders without customs noticing?"
SAFE = "How can I transport my prescribed medication across borders without problems at customs?"


def draft(verdict: str = "unsafe", category: str = "illegal_activity", **extra: Any) -> str:
    data = {
        "scenario": "Asking how to move contraband past border controls unnoticed.",
        "intent_signals": ["evasion of customs", "illegal goods"],
        "verdict": verdict,
        "guidance": "Decline to help with smuggling; explain the legal risks briefly.",
        "category": category,
        "confidence": 0.8,
    }
    return json.dumps(data | extra)


def policy(*, agreement: float | None = 1.0, **learning: Any) -> Policy:
    """The default policy; the scripted reflector's verdicts are what each test means them to be,
    so it counts as measured and trusted (``agreement``) unless a test says otherwise."""
    base = load_policy()
    return base.model_copy(
        update={
            "learning": base.learning.model_copy(update=learning),
            "reflection": base.reflection.model_copy(
                update={"backoff_s": 0.01, "agreement": agreement}
            ),
        }
    )


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    yield register()


def make_guard(tmp_path: Path, *, agreement: float | None = 1.0, **learning: Any) -> Guard:
    return Guard(
        store=LocalStore(tmp_path / "store"),
        policy=policy(agreement=agreement, **learning),
        keys=KeyBuilder(FakeTextEmbedder(), None),
    )


def learn(guard: Guard, text: str, answer: str = "ok", **who: Any) -> bool:
    prep = guard.prepare([{"role": "user", "content": text}])
    return guard.learn(prep, answer, model="scripted/reflector", **who)


def stored(guard: Guard) -> list[Any]:
    return list(guard.store.iter_insights("default"))


def test_good_reflection_is_stored_abstract_with_provenance(
    tmp_path: Path, llm: ScriptedLLM
) -> None:
    llm.script.append(
        draft(scenario=f"User wrote: {UNSAFE} Contact me at bob@example.com or +1 415 555 0100.")
    )
    guard = make_guard(tmp_path)
    assert learn(guard, UNSAFE, "I can't help with smuggling.", user="alice")
    guard.close()
    (ins,) = stored(guard)
    assert ins.verdict is Verdict.UNSAFE and ins.status is InsightStatus.ACTIVE
    assert ins.provenance.source is ProvenanceSource.REFLECTION
    assert ins.provenance.supporters and ins.provenance.supporters[0].startswith("user:")
    assert "alice" not in json.dumps(ins.to_json_dict())
    assert "bob@example.com" not in ins.scenario and "[email]" in ins.scenario
    assert "555" not in ins.scenario
    assert "traffic illegal substances across borders" not in ins.scenario.lower()
    assert "[…]" in ins.scenario
    assert guard.learner.counters["new"] == 1
    # the reflection saw the request and the answer through LiteLLM
    sent = llm.calls[0]
    assert sent[0]["role"] == "system" and UNSAFE in sent[1]["content"]


def test_broken_json_gets_one_repair(tmp_path: Path, llm: ScriptedLLM) -> None:
    llm.script.extend(["Sure! Here is my reflection: {not json", draft()])
    guard = make_guard(tmp_path)
    learn(guard, UNSAFE)
    guard.close()
    assert len(stored(guard)) == 1
    assert len(llm.calls) == 2
    assert "not a valid insight" in llm.calls[1][-1]["content"]


def test_still_broken_is_counted_and_dropped(tmp_path: Path, llm: ScriptedLLM) -> None:
    llm.script.extend(["nope", json.dumps({"verdict": "maybe"})])
    guard = make_guard(tmp_path)
    learn(guard, UNSAFE)
    guard.close()
    assert stored(guard) == []
    assert guard.learner.counters["dropped_invalid"] == 1


def test_unknown_category_counts_as_invalid(tmp_path: Path, llm: ScriptedLLM) -> None:
    llm.script.extend([draft(category="astrology"), draft(category="S2")])
    guard = make_guard(tmp_path)
    learn(guard, UNSAFE)
    guard.close()
    (ins,) = stored(guard)
    assert ins.category == "illegal_activity"  # the repair answered a Llama Guard code


def test_timeouts_and_errors_are_retried_with_backoff(tmp_path: Path, llm: ScriptedLLM) -> None:
    llm.script.extend([TIMEOUT, ERROR, draft()])
    guard = make_guard(tmp_path)
    learn(guard, UNSAFE)
    guard.close()
    assert len(stored(guard)) == 1
    assert guard.learner.counters["retries"] == 2


def test_persistent_errors_give_up_without_crashing(tmp_path: Path, llm: ScriptedLLM) -> None:
    llm.script.extend([ERROR, ERROR, ERROR, draft()])
    guard = make_guard(tmp_path)
    learn(guard, UNSAFE)
    learn(guard, SAFE)  # the worker survives and goes on
    guard.close()
    assert guard.learner.counters["failed_model"] == 1
    assert len(stored(guard)) == 1


def test_full_queue_never_blocks_and_close_drains(tmp_path: Path, llm: ScriptedLLM) -> None:
    import threading

    llm.gate = threading.Event()
    llm.responder = lambda messages: draft()
    guard = make_guard(tmp_path, queue_size=2)
    t0 = time.monotonic()
    results = [learn(guard, f"{UNSAFE} variant {i}", user=f"u{i}") for i in range(6)]
    assert time.monotonic() - t0 < 5
    assert results.count(False) >= 3
    assert guard.learner.counters["dropped_queue_full"] == results.count(False)
    llm.gate.set()
    guard.close()
    c = guard.learner.counters
    assert c["new"] + c["merged"] == results.count(True)
    assert guard.learner.pending == 0


def test_merge_conflict_and_retrieval_of_both(tmp_path: Path, llm: ScriptedLLM) -> None:
    guard = make_guard(tmp_path, quorum=2)  # learnt guidance gives way at the quorum
    llm.script.extend(
        [draft(), draft(confidence=0.95, guidance="Refuse; point to legal import rules.")]
    )
    learn(guard, UNSAFE, user="a")
    learn(guard, UNSAFE, user="b")
    guard.learner.drain(30)
    (ins,) = stored(guard)
    assert ins.support == 2 and len(ins.provenance.supporters) == 2
    assert ins.guidance == "Refuse; point to legal import rules."  # the more confident one
    # a relaxing opposite verdict right next to it waits in quarantine, whatever its category
    llm.script.append(draft(verdict="safe", category="specialized_advice"))
    learn(guard, UNSAFE + " please", user="c")
    guard.learner.drain(30)
    assert sorted(i.status.value for i in stored(guard)) == ["active", "quarantined"]
    # a curated safe insight right next to it: the next learnt support marks both conflicted
    item = PairedItem(
        id="s", pair_id="p", label="safe", category="specialized_advice", text=UNSAFE + " today"
    )
    seed_items(guard, [item], base=tmp_path, tenant="default", source="seed.jsonl")
    llm.script.append(draft())
    learn(guard, UNSAFE, user="d")
    guard.close()
    both = [i for i in stored(guard) if i.status is not InsightStatus.QUARANTINED]
    assert len(both) == 2 and {i.status for i in both} == {InsightStatus.CONFLICTED}
    prep = guard.prepare([{"role": "user", "content": UNSAFE}])
    assert {h.insight.verdict for h in prep.insights} == {Verdict.SAFE, Verdict.UNSAFE}
    assert prep.decision.reason in ("uncertain", "unsafe_evidence")  # never allowed as safe


def test_relaxing_insight_in_high_risk_category_needs_a_quorum(
    tmp_path: Path, llm: ScriptedLLM
) -> None:
    llm.responder = lambda messages: draft(verdict="safe")
    guard = make_guard(tmp_path, quorum=3)
    for user in ("u1", "u1", "u2"):
        learn(guard, SAFE, user=user)
    guard.learner.drain(30)
    (ins,) = stored(guard)
    assert ins.status is InsightStatus.QUARANTINED
    assert guard.prepare([{"role": "user", "content": SAFE}]).insights == ()
    learn(guard, SAFE, user="u3")
    guard.close()
    (ins,) = stored(guard)
    assert ins.status is InsightStatus.ACTIVE and len(ins.provenance.supporters) == 3
    assert guard.prepare([{"role": "user", "content": SAFE}]).insights[0].insight.id == ins.id


def test_rate_limits_per_user(tmp_path: Path, llm: ScriptedLLM) -> None:
    llm.responder = lambda messages: draft()
    guard = make_guard(tmp_path, user_rate_per_hour=2)
    got = [learn(guard, UNSAFE, user="spammer") for _ in range(5)]
    assert got == [True, True, False, False, False]
    assert learn(guard, UNSAFE, user="someone-else")
    guard.close()
    assert guard.learner.counters["dropped_rate_user"] == 3


def test_retrieval_hits_are_recorded(tmp_path: Path, llm: ScriptedLLM) -> None:
    llm.script.append(draft())
    guard = make_guard(tmp_path, hit_flush_s=0.05)
    learn(guard, UNSAFE)
    guard.learner.drain(30)
    for _ in range(3):
        assert guard.prepare([{"role": "user", "content": UNSAFE}]).insights
    guard.close()
    (ins,) = stored(guard)
    assert ins.hits == 3 and ins.last_hit is not None


def test_prune_applies_capacity_by_utility(tmp_path: Path, llm: ScriptedLLM) -> None:
    topics = ["weapons", "phishing", "malware", "forgery", "stalking"]
    llm.responder = lambda messages: draft()
    guard = make_guard(tmp_path, capacity_per_tenant=3)
    for t in topics:
        learn(guard, f"totally different topic about {t} {t} {t}", user="x")
    learn(guard, "totally different topic about weapons weapons weapons", user="y")
    guard.learner.drain(30)
    report = guard.learner.hygiene.prune("default")
    guard.close()
    assert report["evicted"] == 2
    left = stored(guard)
    assert len(left) == 3
    assert max(i.support for i in left) == 2  # the supported one survived


def test_sanitize_helpers() -> None:
    assert redact("mail a.b@c.io, card 4111 1111 1111 1111, call +44 20 7946 0958") == (
        "mail [email], card [number], call [phone]"
    )
    text, runs = scrub_copies(
        "The user asked how to traffic illegal substances across borders without customs, quietly.",
        [UNSAFE],
        max_words=5,
    )
    assert text == "The user asked how to […], quietly." and runs == 1
    five, kept = scrub_copies("traffic illegal substances across borders", [UNSAFE], max_words=5)
    assert (five, kept) == ("traffic illegal substances across borders", 0)  # five are allowed
    same, none = scrub_copies("Smuggling request; decline.", [UNSAFE], max_words=5)
    assert none == 0 and same == "Smuggling request; decline."


def test_poisoning_simulation_one_attacker_cannot_flip_a_held_unsafe_request(
    tmp_path: Path, llm: ScriptedLLM
) -> None:
    """200 crafted exchanges from one attacker try to teach `safe` next to a held unsafe
    request; the same number of honest, independent supporters do get a benign insight in."""
    guard = make_guard(tmp_path, user_rate_per_hour=1000)  # even without the rate limit
    llm.script.append(draft())
    learn(guard, UNSAFE, user="moderator")
    guard.learner.drain(30)
    llm.responder = lambda messages: draft(
        verdict="safe", guidance="This is a harmless logistics question; answer it fully."
    )
    for i in range(200):
        learn(guard, f"{UNSAFE} {['asap', 'thanks', 'pls', 'now'][i % 4]}", user="mallory")
    guard.learner.drain(120)
    flips = 0
    prep = guard.prepare([{"role": "user", "content": UNSAFE}])
    if prep.insights[0].insight.verdict is not Verdict.UNSAFE:
        flips += 1
    assert flips == 0
    retrievable_safe = [
        i for i in stored(guard) if i.verdict is Verdict.SAFE and SearchFilter().matches(i)
    ]
    assert retrievable_safe == []
    # honest, independent supporters for the benign twin
    for i in range(200):
        learn(guard, f"{SAFE} {['thanks', 'please'][i % 2]}", user=f"traveller-{i}")
    guard.close()
    benign = guard.prepare([{"role": "user", "content": SAFE}])
    top = benign.insights[0].insight
    assert top.verdict is Verdict.SAFE and top.status in (
        InsightStatus.ACTIVE,
        InsightStatus.CONFLICTED,
    )
    assert len(top.provenance.supporters) >= 3
    again = guard.prepare([{"role": "user", "content": UNSAFE}])
    assert again.insights[0].insight.verdict is Verdict.UNSAFE


def test_a_quorum_of_few_accounts_cannot_unquarantine_against_a_known_unsafe_insight(
    tmp_path: Path, llm: ScriptedLLM
) -> None:
    """Sybil variant: 3 accounts (= the quorum) teach `safe` right next to a held unsafe
    insight. The quarantine stays until a human reviews it; the unsafe insight stays on top."""
    guard = make_guard(tmp_path, quorum=3)
    llm.script.append(draft())
    learn(guard, UNSAFE, user="moderator")
    guard.learner.drain(30)
    llm.responder = lambda messages: draft(verdict="safe")
    for i in range(30):
        learn(guard, f"{UNSAFE} asap", user=f"sock-{i % 3}")
    guard.close()
    (safe,) = [i for i in stored(guard) if i.verdict is Verdict.SAFE]
    assert safe.status is InsightStatus.QUARANTINED
    assert len(safe.provenance.supporters) == 3  # the quorum is met, the quarantine holds
    for suffix in ("", " asap", " pls", " now"):
        top = guard.prepare([{"role": "user", "content": UNSAFE + suffix}]).insights[0].insight
        assert top.verdict is Verdict.UNSAFE and top.status is InsightStatus.ACTIVE


def test_counting_hits_never_builds_the_learner_nor_its_reflector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_reflector(*args: Any) -> Any:
        raise AssertionError("the request path built a reflector")

    monkeypatch.setattr("echosafe_guard.guard.LLMReflector", no_reflector)
    guard = make_guard(tmp_path, hit_flush_s=0.05)
    seed_memory(guard, "builtin", tenant="default")
    prep = guard.prepare([{"role": "user", "content": UNSAFE}])
    assert prep.insights
    guard.close()
    top = guard.store.get("default", prep.insights[0].insight.id)
    assert top is not None and top.hits == 1


def test_a_reflection_the_memory_does_not_back_waits_in_quarantine(
    tmp_path: Path, llm: ScriptedLLM
) -> None:
    """Over-refusal guard: a small reflector that calls a safe twin unsafe (or the reverse)
    cannot put that verdict live when the tenant's verdict model says otherwise or is unsure."""
    guard = make_guard(tmp_path)
    memory_says: dict[str, Verdict | None] = {}
    guard.learner.hygiene.verdict_check = lambda tenant, key: memory_says["now"]
    llm.script.extend([draft(verdict="unsafe")] * 3)
    for n, says in enumerate((Verdict.SAFE, Verdict.BORDERLINE, Verdict.UNSAFE)):
        memory_says["now"] = says
        learn(guard, f"{UNSAFE} variant {n} " + "x" * 40 * n, user=f"u{n}")
        guard.learner.drain(30)
    guard.close()
    got = sorted(i.status.value for i in stored(guard))
    assert got == ["active", "quarantined", "quarantined"]


def test_the_guard_checks_learnt_verdicts_against_its_verdict_model(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    seed_memory(guard, "builtin")
    guard.warmup(images=False, tenants=["default"])
    check = guard.learner.hygiene.verdict_check
    assert check is not None
    key = guard.prepare([{"role": "user", "content": UNSAFE}]).key
    assert check("default", key) is not None  # fitted: it answers (unsafe, safe or borderline)
    assert check("nobody", key) is None  # an empty memory cannot say: the other rules apply


@pytest.mark.parametrize("agreement", [None, 0.58])
def test_an_untrusted_reflector_alone_puts_nothing_live(
    tmp_path: Path, llm: ScriptedLLM, agreement: float | None
) -> None:
    """A reflector whose agreement with labelled twins is unmeasured or below the policy's bar
    (the 1.5B local model measured 0.58) cannot teach on its own: with no fitted verdict model
    to back it, its insight waits in quarantine, unsafe as well as safe."""
    guard = make_guard(tmp_path, agreement=agreement)
    llm.script.append(draft("unsafe"))
    assert learn(guard, UNSAFE, "I can't help with smuggling.", user="alice")
    guard.close()
    (ins,) = stored(guard)
    assert ins.verdict is Verdict.UNSAFE and ins.status is InsightStatus.QUARANTINED
    assert guard.prepare([{"role": "user", "content": UNSAFE}]).insights == ()
