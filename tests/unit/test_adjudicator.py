"""The adjudicator: its policy, the log-probability reading, the decision it changes, the guard."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from echosafe_guard.block import render_block
from echosafe_guard.exceptions import AdjudicatorError, PolicyError
from echosafe_guard.guard import Guard
from echosafe_guard.policy.adjudication import AdjudicatorPolicy, AdjudicatorQuestion
from echosafe_guard.policy.loader import load_policy, parse_policy
from echosafe_guard.policy.models import Mode, Policy
from echosafe_guard.retrieval.adjudicator import (
    Adjudicator,
    aadjudicate,
    adjudicate,
    needs_adjudication,
    second_opinion,
)
from echosafe_guard.retrieval.decide import Action, Decision
from echosafe_guard.retrieval.llm_adjudicator import LlmAdjudicator, letter_logprobs
from echosafe_guard.retrieval.verdict_model import Call

WEAK = Decision(
    Action.CAUTION, "unsafe_evidence", Mode.ADVISE, True, 0.7, ("n",), Call.UNSAFE, 0.8, False
)


def response(tops: dict[str, float], *, as_dict: bool = False) -> Any:
    """A chat completion whose first token's ``top_logprobs`` are ``tops`` (best first)."""
    entries = [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in tops.items()]
    content = [{**entries[0], "top_logprobs": entries}]
    if as_dict:
        return {
            "choices": [
                {"message": {"content": entries[0]["token"]}, "logprobs": {"content": content}}
            ]
        }
    logprobs = SimpleNamespace(
        content=[
            SimpleNamespace(
                token=content[0]["token"],
                logprob=content[0]["logprob"],
                top_logprobs=[SimpleNamespace(**e) for e in entries],
            )
        ]
    )
    return SimpleNamespace(choices=[SimpleNamespace(logprobs=logprobs)])


def adjudicator_policy(**changes: Any) -> AdjudicatorPolicy:
    return AdjudicatorPolicy(model="test/model", **changes)


# -- the policy -----------------------------------------------------------------------------------


def test_default_policy_has_it_off_with_both_letter_orders() -> None:
    p = load_policy().adjudicator
    assert p.model is None
    # the file and the code agree on the thresholds a model gets when one is set
    code = AdjudicatorPolicy()
    assert (p.protective_below, p.benign_below, p.benign_edge) == (
        code.protective_below,
        code.benign_below,
        code.benign_edge,
    )
    assert [(q.harmful, q.benign) for q in p.questions] == [("A", "B"), ("B", "A")]
    assert all("{request}" in q.text for q in p.questions)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"text": "{request}?", "harmful": "A", "benign": "A"}, "different letters"),
        ({"text": "no field", "harmful": "A", "benign": "B"}, r"\{request\}"),
        ({"text": "{request}", "harmful": "AB", "benign": "B"}, "pattern"),
    ],
)
def test_bad_questions_are_refused(fields: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AdjudicatorQuestion(**fields)


def test_a_policy_file_with_a_bad_adjudicator_is_a_policy_error() -> None:
    data = load_policy().model_dump(mode="json")
    data["adjudicator"] = {
        "model": "m",
        "questions": [{"text": "x", "harmful": "A", "benign": "B"}],
    }

    with pytest.raises(PolicyError, match="adjudicator"):
        parse_policy(yaml.safe_dump(data))


@pytest.mark.parametrize("field", ["protective_below", "harmful_above"])
@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_a_threshold_that_is_not_a_finite_number_is_a_policy_error(field: str, value: str) -> None:
    # NaN compares false both ways: it would demote (or promote) every call it reads
    data = load_policy().model_dump(mode="json")
    data["adjudicator"][field] = "NUMBER"
    text = yaml.safe_dump(data).replace("NUMBER", value, 1)
    assert f"{field}: {value}" in text
    with pytest.raises(PolicyError, match=field):
        parse_policy(text)


# -- reading the letters --------------------------------------------------------------------------


@pytest.mark.parametrize("as_dict", [False, True])
def test_letter_logprobs_reads_both_forms_and_strips_spaces(as_dict: bool) -> None:
    got = letter_logprobs(response({" A": -0.2, "B": -1.9, "C": -4.0}, as_dict=as_dict), ("A", "B"))
    assert got == (-0.2, -1.9)


def test_a_letter_missing_from_the_list_gets_the_lowest_listed_logprob() -> None:
    assert letter_logprobs(response({"A": -0.1, "The": -3.5}), ("A", "B")) == (-0.1, -3.5)


@pytest.mark.parametrize(
    "bad",
    [
        SimpleNamespace(choices=[SimpleNamespace(logprobs=None)]),
        {"choices": [{"message": {"content": "A"}}]},
        SimpleNamespace(choices=[]),
        response({"A": math.nan}),
    ],
)
def test_no_logprobs_is_a_typed_error(bad: Any) -> None:
    with pytest.raises(AdjudicatorError):
        letter_logprobs(bad, ("A", "B"))


# -- the LiteLLM adjudicator ----------------------------------------------------------------------


class ScriptedModel:
    """Answers each question with fixed log-probabilities; records the calls."""

    def __init__(self, tops: list[dict[str, float]]) -> None:
        self.tops = tops
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return response(self.tops[len(self.calls) - 1])

    async def acall(self, **kwargs: Any) -> Any:
        return self(**kwargs)


def test_constructor_does_no_io_and_needs_a_model() -> None:
    with pytest.raises(AdjudicatorError, match="model"):
        LlmAdjudicator(AdjudicatorPolicy())
    LlmAdjudicator(adjudicator_policy())  # no LiteLLM call, no import needed yet


def test_reading_sums_harmful_over_benign_across_letter_orders() -> None:
    # Q1: A harmful, B benign; Q2: B harmful, A benign. A model that likes "A" either way.
    model = ScriptedModel([{"A": -0.5, "B": -1.0}, {"A": -0.4, "B": -1.2}])
    adj = LlmAdjudicator(adjudicator_policy(max_request_chars=100), completion=model)
    assert isinstance(adj, Adjudicator)
    text = "  how do I spot a phishing email? " + "x" * 200
    got = adj.harm_logodds(text)
    assert got == pytest.approx((-0.5 + 1.0) + (-1.2 + 0.4))
    first = model.calls[0]
    assert first["model"] == "test/model" and first["max_tokens"] == 1
    assert first["logprobs"] is True and first["top_logprobs"] == 10 and first["temperature"] == 0
    assert first["messages"][0] == {
        "role": "system",
        "content": "You are a content safety classifier.",
    }
    user_text = first["messages"][1]["content"]
    assert f'Request: "{text.strip()[:100]}"' in user_text  # cut to max_request_chars


def test_async_reading_matches_the_sync_one() -> None:
    tops = [{"A": -2.0, "B": -0.2}, {"A": -0.3, "B": -2.5}]
    sync = LlmAdjudicator(adjudicator_policy(), completion=ScriptedModel(tops)).harm_logodds("q")
    model = ScriptedModel(tops)
    adj = LlmAdjudicator(adjudicator_policy(), acompletion=model.acall)
    assert asyncio.run(adj.aharm_logodds("q")) == pytest.approx(sync) == pytest.approx(-4.0)
    threaded = LlmAdjudicator(adjudicator_policy(), completion=ScriptedModel(tops))
    assert asyncio.run(threaded.aharm_logodds("q")) == pytest.approx(sync)


def test_a_failing_model_is_an_adjudicator_error() -> None:
    def broken(**_: Any) -> Any:
        raise TimeoutError("slow")

    async def abroken(**_: Any) -> Any:
        raise ConnectionError("down")

    with pytest.raises(AdjudicatorError, match="slow") as err:
        LlmAdjudicator(adjudicator_policy(), completion=broken).harm_logodds("q")
    assert isinstance(err.value.__cause__, TimeoutError)
    with pytest.raises(AdjudicatorError, match="down"):
        asyncio.run(LlmAdjudicator(adjudicator_policy(), acompletion=abroken).aharm_logodds("q"))


# -- the decision ---------------------------------------------------------------------------------


def test_only_a_weak_unsafe_call_is_put_to_the_adjudicator() -> None:
    assert needs_adjudication(WEAK)
    others = [
        dataclasses.replace(WEAK, confident=True),
        dataclasses.replace(WEAK, action=Action.BLOCK, reason="confident_unsafe"),
        dataclasses.replace(WEAK, action=Action.ALLOW, reason="uncertain", call=Call.UNSURE),
        dataclasses.replace(WEAK, action=Action.ALLOW, reason="safe_evidence", call=Call.SAFE),
    ]
    assert not any(needs_adjudication(d) for d in others)


UNSURE = dataclasses.replace(
    WEAK, action=Action.ALLOW, reason="uncertain", call=Call.UNSURE, p_unsafe=0.55
)


def test_an_unsure_call_is_read_only_when_harmful_above_is_set() -> None:
    on = adjudicator_policy(harmful_above=0.5)
    assert needs_adjudication(UNSURE, on) and not needs_adjudication(UNSURE, adjudicator_policy())
    assert not needs_adjudication(UNSURE)
    assert needs_adjudication(WEAK, on) and needs_adjudication(WEAK)
    no_unsafe = dataclasses.replace(UNSURE, top_unsafe_score=None)  # only safe insights
    safe = dataclasses.replace(UNSURE, reason="safe_evidence", call=Call.SAFE)
    assert not needs_adjudication(no_unsafe, on) and not needs_adjudication(safe, on)


def outcome(d: Decision) -> tuple[Action, str, Call | None, bool]:
    return (d.action, d.reason, d.call, d.confident)


def test_second_opinion_promotes_an_unsure_call_at_the_threshold_only() -> None:
    stays = second_opinion(UNSURE, 0.49, adjudicator_policy(harmful_above=0.5))
    assert (stays.action, stays.reason, stays.call) == (Action.ALLOW, "uncertain", Call.UNSURE)
    assert stays.notes[-1] == "adjudicator: reading (+0.49), unsure stands"
    assert second_opinion(UNSURE, 5.0, adjudicator_policy()).call is Call.UNSURE
    up = second_opinion(UNSURE, 0.5, adjudicator_policy(harmful_above=0.5))
    assert outcome(up) == (Action.CAUTION, "unsafe_evidence", Call.UNSAFE, False)
    assert up.notes == ("n", "adjudicator: harmful reading (+0.50), unsafe")
    assert up.p_unsafe == UNSURE.p_unsafe and up.top_unsafe_score == UNSURE.top_unsafe_score
    # a weak call is demoted by protective_below whatever harmful_above says
    assert second_opinion(WEAK, -1.0, adjudicator_policy(harmful_above=0.5)).call is Call.UNSURE


EDGE = dataclasses.replace(UNSURE, p_unsafe=0.4)


def test_an_unsure_call_on_the_safe_edge_is_read_only_when_benign_below_is_set() -> None:
    on = adjudicator_policy(benign_below=-1.0)
    off = adjudicator_policy(benign_below=None)
    assert needs_adjudication(EDGE, on) and not needs_adjudication(EDGE, off)
    no_unsafe = dataclasses.replace(EDGE, top_unsafe_score=None)  # only safe insights: read too
    assert needs_adjudication(no_unsafe, on)
    above_edge = dataclasses.replace(EDGE, p_unsafe=0.46)
    assert not needs_adjudication(above_edge, on)
    assert needs_adjudication(above_edge, adjudicator_policy(benign_below=-1.0, benign_edge=0.5))
    no_p = dataclasses.replace(EDGE, p_unsafe=None)
    safe = dataclasses.replace(EDGE, reason="safe_evidence", call=Call.SAFE)
    assert not needs_adjudication(no_p, on) and not needs_adjudication(safe, on)


def test_second_opinion_makes_a_safe_edge_call_safe_below_the_threshold_only() -> None:
    on = adjudicator_policy(benign_below=-1.0)
    stays = second_opinion(EDGE, -1.0, on)
    assert (stays.action, stays.reason, stays.call) == (Action.ALLOW, "uncertain", Call.UNSURE)
    assert stays.notes[-1] == "adjudicator: reading (-1.00), unsure stands"
    down = second_opinion(EDGE, -1.01, on)
    assert outcome(down) == (Action.ALLOW, "safe_evidence", Call.SAFE, False)
    assert down.notes == ("n", "adjudicator: benign reading (-1.01), safe")
    assert down.p_unsafe == EDGE.p_unsafe and down.top_unsafe_score == EDGE.top_unsafe_score
    # beyond the edge a benign reading changes nothing; a harmful one still promotes
    assert second_opinion(UNSURE, -9.0, on).call is Call.UNSURE
    both = adjudicator_policy(benign_below=-1.0, harmful_above=0.5)
    assert second_opinion(EDGE, 0.5, both).call is Call.UNSAFE
    assert second_opinion(EDGE, -2.0, both).call is Call.SAFE


def test_adjudicate_promotes_through_the_policy() -> None:
    pol = load_policy().model_copy(update={"adjudicator": adjudicator_policy(harmful_above=0.5)})
    judge = FixedAdjudicator(1.2)
    out, ms = adjudicate(UNSURE, judge, "the text", pol)
    assert out.call is Call.UNSAFE and out.action is Action.CAUTION and judge.texts == ["the text"]
    assert ms >= 0.0
    out, _ = asyncio.run(aadjudicate(UNSURE, FixedAdjudicator(0.1), "t", pol))
    assert out.call is Call.UNSURE
    failed, _ = adjudicate(UNSURE, FixedAdjudicator(KeyError("k")), "t", pol)
    assert failed.call is Call.UNSURE and failed.notes[-1] == "adjudicator failed: KeyError: 'k'"
    off = load_policy().model_copy(update={"adjudicator": adjudicator_policy()})
    quiet = FixedAdjudicator(9.0)
    assert adjudicate(UNSURE, quiet, "t", off) == (UNSURE, 0.0) and quiet.texts == []


def test_second_opinion_demotes_below_the_threshold_only() -> None:
    kept = second_opinion(WEAK, 0.3, adjudicator_policy(protective_below=0.0))
    assert (kept.action, kept.reason, kept.call) == (Action.CAUTION, "unsafe_evidence", Call.UNSAFE)
    assert kept.notes[-1] == "adjudicator: harmful reading (+0.30)"
    demoted = second_opinion(WEAK, -1.25, adjudicator_policy(protective_below=0.0))
    assert (demoted.action, demoted.reason, demoted.call) == (
        Action.ALLOW,
        "uncertain",
        Call.UNSURE,
    )
    assert demoted.notes == ("n", "adjudicator: protective reading (-1.25), unsure")
    assert demoted.p_unsafe == WEAK.p_unsafe and demoted.top_unsafe_score == 0.7


class FixedAdjudicator:
    def __init__(self, value: float | Exception) -> None:
        self.value = value
        self.texts: list[str] = []

    def harm_logodds(self, text: str) -> float:
        self.texts.append(text)
        if isinstance(self.value, Exception):
            raise self.value
        return self.value

    async def aharm_logodds(self, text: str) -> float:
        return self.harm_logodds(text)


def test_adjudicate_skips_what_it_need_not_read_and_keeps_the_call_on_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pol = load_policy().model_copy(
        update={"adjudicator": adjudicator_policy(protective_below=-0.5)}
    )
    strong = dataclasses.replace(WEAK, confident=True)
    judge = FixedAdjudicator(-3.0)
    assert adjudicate(strong, judge, "t", pol) == (strong, 0.0) and judge.texts == []
    assert adjudicate(WEAK, None, "t", pol) == (WEAK, 0.0)
    out, ms = adjudicate(WEAK, judge, "the text", pol)
    assert out.call is Call.UNSURE and judge.texts == ["the text"] and ms >= 0.0
    out, _ = asyncio.run(aadjudicate(WEAK, FixedAdjudicator(-0.4), "t", pol))
    assert out.call is Call.UNSAFE  # -0.4 is not below -0.5
    failed, _ = adjudicate(WEAK, FixedAdjudicator(AdjudicatorError("no logprobs")), "t", pol)
    assert failed.action is Action.CAUTION and failed.notes[-1] == "adjudicator failed: no logprobs"
    assert "adjudicator failed (the call stands)" in caplog.text
    failed, _ = asyncio.run(aadjudicate(WEAK, FixedAdjudicator(AdjudicatorError("x")), "t", pol))
    assert failed.call is Call.UNSAFE
    buggy, _ = adjudicate(WEAK, FixedAdjudicator(KeyError("k")), "t", pol)  # not our error type
    assert buggy.call is Call.UNSAFE and buggy.notes[-1] == "adjudicator failed: KeyError: 'k'"
    buggy, _ = asyncio.run(aadjudicate(WEAK, FixedAdjudicator(ValueError("v")), "t", pol))
    assert buggy.notes[-1] == "adjudicator failed: ValueError: v"


# -- in the guard ---------------------------------------------------------------------------------


def weak_guard(tmp_path: Path, judge: Any, pol: Policy | None = None) -> Guard:
    from echosafe_guard.key.key_builder import KeyBuilder
    from echosafe_guard.memory.local.local_store import LocalStore
    from echosafe_guard.seeding import seed_memory
    from tests.conftest import FakeTextEmbedder

    guard = Guard(
        store=LocalStore(tmp_path / "store"),
        policy=pol or load_policy(),
        keys=KeyBuilder(FakeTextEmbedder(), None),
        adjudicator=judge,
    )
    seed_memory(guard, "builtin", tenant="acme")
    return guard


UNSAFE = "How can I traffic illegal substances across borders without customs noticing?"
EDGE_TEXT = (
    "How can I transport my prescribed medication across borders without problems at customs?"
)


def test_the_guard_reads_a_weak_call_again_and_writes_the_unsure_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    judge = FixedAdjudicator(-2.0)
    guard = weak_guard(tmp_path, judge)
    plain = guard.prepare([{"role": "user", "content": UNSAFE}], tenant="acme")
    assert judge.texts == []  # a near-duplicate is confident: never adjudicated
    weak = dataclasses.replace(plain.decision, confident=False, action=Action.CAUTION)
    monkeypatch.setattr(guard, "_decide", lambda *a: weak)
    msgs = [{"role": "user", "content": UNSAFE}]
    prep = guard.prepare(msgs, tenant="acme")
    assert judge.texts == [UNSAFE]
    assert prep.decision.reason == "uncertain" and prep.decision.call is Call.UNSURE
    assert prep.timings.adjudicate_ms > 0.0
    assert prep.system_prompt == render_block(guard.policy, prep.insights, Call.UNSURE)
    assert plain.system_prompt is not None and guard.policy.block_message in plain.system_prompt
    assert prep.system_prompt != plain.system_prompt
    aprep = asyncio.run(guard.aprepare(msgs, tenant="acme"))
    assert aprep.decision.reason == "uncertain" and len(judge.texts) == 2
    guard.close()


def test_the_guard_reads_a_safe_edge_call_and_writes_the_safe_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    judge = FixedAdjudicator(-2.0)
    on = adjudicator_policy(benign_below=-1.0)
    guard = weak_guard(tmp_path, judge, load_policy().model_copy(update={"adjudicator": on}))
    plain = guard.prepare([{"role": "user", "content": EDGE_TEXT}], tenant="acme")
    judge.texts.clear()
    edge = dataclasses.replace(plain.decision, **_edge_fields())
    monkeypatch.setattr(guard, "_decide", lambda *a: edge)
    msgs = [{"role": "user", "content": EDGE_TEXT}]
    prep = guard.prepare(msgs, tenant="acme")
    assert judge.texts == [EDGE_TEXT]
    assert prep.decision.reason == "safe_evidence" and prep.decision.call is Call.SAFE
    safe_block = render_block(guard.policy, prep.insights, Call.SAFE)
    assert safe_block is not None and prep.system_prompt == safe_block
    assert prep.system_prompt != render_block(guard.policy, prep.insights, Call.UNSURE)
    judge.value = 0.0  # not benign enough: the unsure call stands
    aprep = asyncio.run(guard.aprepare(msgs, tenant="acme"))
    assert aprep.decision.call is Call.UNSURE and len(judge.texts) == 2
    guard.close()


def _edge_fields() -> dict[str, Any]:
    return {
        "action": Action.ALLOW,
        "reason": "uncertain",
        "call": Call.UNSURE,
        "confident": False,
        "p_unsafe": 0.4,
    }


def test_the_policy_model_builds_a_litellm_adjudicator_lazily(tmp_path: Path) -> None:
    pol = load_policy().model_copy(update={"adjudicator": adjudicator_policy()})
    guard = Guard(store=tmp_path / "nowhere", policy=pol)
    judge = guard.adjudicator
    assert isinstance(judge, LlmAdjudicator) and judge.model == "test/model"
    assert guard.adjudicator is judge
    assert Guard(store=tmp_path / "nowhere", policy=load_policy()).adjudicator is None
    assert not (tmp_path / "nowhere").exists()


def test_an_adjudicated_request_has_its_own_span_and_stage_metric(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from prometheus_client import CollectorRegistry

    from echosafe_guard.observability import observe

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    registry = CollectorRegistry()
    guard = weak_guard(tmp_path, FixedAdjudicator(0.5))
    assert observe(guard, registry=registry, tracer=provider.get_tracer("t")) is not None
    guard.prepare([{"role": "user", "content": UNSAFE}], tenant="acme")  # confident: not read
    names = [s.name for s in exporter.get_finished_spans()]
    assert "echosafe.adjudicate" not in names
    plain = guard.prepare([{"role": "user", "content": UNSAFE}], tenant="acme").decision
    monkeypatch.setattr(guard, "_decide", lambda *a: dataclasses.replace(plain, confident=False))
    exporter.clear()
    prep = guard.prepare([{"role": "user", "content": UNSAFE}], tenant="acme")
    assert prep.decision.notes[-1] == "adjudicator: harmful reading (+0.50)"
    names = [s.name for s in exporter.get_finished_spans()]
    assert names.index("echosafe.rerank") < names.index("echosafe.adjudicate")
    assert names.index("echosafe.adjudicate") < names.index("echosafe.rewrite")
    count = registry.get_sample_value("echosafe_stage_seconds_count", {"stage": "adjudicate"})
    assert count == 1
    guard.close()
