from __future__ import annotations

import json
from typing import Any

from echosafe_guard.block import BEGIN, END, render_block
from echosafe_guard.input.openai import apply_block
from echosafe_guard.memory.insight import (
    Insight,
    Provenance,
    ProvenanceSource,
    ScoredInsight,
    Verdict,
)
from echosafe_guard.policy.loader import load_policy

POLICY = load_policy()


def hit(verdict: Verdict, score: float = 0.8, iid: str = "a") -> ScoredInsight:
    ins = Insight(
        id=iid,
        tenant="t",
        scenario=f"{verdict.value} scenario",
        intent_signals=("signal one", "signal two"),
        verdict=verdict,
        guidance=f"{verdict.value} guidance",
        category="illegal_activity",
        provenance=Provenance(source=ProvenanceSource.SEED),
        layout="kl1-x",
    )
    return ScoredInsight(insight=ins, score=score)


def test_block_lists_insights_in_order_with_template_fields() -> None:
    block = render_block(POLICY, [hit(Verdict.UNSAFE, 0.91, "u"), hit(Verdict.SAFE, 0.7, "s")])
    assert block is not None
    assert block.startswith(BEGIN) and block.endswith(END)
    assert block.index("[1] UNSAFE") < block.index("[2] SAFE")
    assert "similarity 0.91" in block and "Illegal activity" in block
    assert "signal one; signal two" in block
    assert POLICY.prompt.conflict_note.strip().splitlines()[0] in block


def test_no_insights_gives_the_preamble_or_nothing() -> None:
    block = render_block(POLICY, [])
    assert block is not None and POLICY.prompt.preamble.splitlines()[0] in block
    quiet = POLICY.model_copy(
        update={"prompt": POLICY.prompt.model_copy(update={"only_with_insights": True})}
    )
    assert render_block(quiet, []) is None


def test_new_system_message_when_none_and_others_untouched() -> None:
    user = {"role": "user", "content": [{"type": "text", "text": "hi"}]}
    msgs: list[Any] = [user]
    out = apply_block(msgs, "BLOCK")
    assert out[0] == {"role": "system", "content": "BLOCK"}
    assert out[1] is user
    assert msgs == [user]


def test_merge_keeps_the_users_system_text_and_is_idempotent() -> None:
    sysmsg = {"role": "system", "content": "You are a pirate.", "name": "cfg"}
    user = {"role": "user", "content": "ahoy"}
    raw = json.dumps(user)
    once = apply_block([sysmsg, user], f"{BEGIN}\nA\n{END}")
    assert once[0]["content"].startswith("You are a pirate.\n\n" + BEGIN)
    assert once[0]["name"] == "cfg"
    assert json.dumps(once[1]) == raw
    twice = apply_block(once, f"{BEGIN}\nB\n{END}")
    assert twice[0]["content"] == f"You are a pirate.\n\n{BEGIN}\nB\n{END}"
    assert twice[0]["content"].count(BEGIN) == 1
    removed = apply_block(twice, None)
    assert removed[0]["content"] == "You are a pirate."
    assert sysmsg["content"] == "You are a pirate."


def test_merge_into_system_parts() -> None:
    sysmsg = {"role": "system", "content": [{"type": "text", "text": "Own rules."}]}
    once = apply_block([sysmsg, {"role": "user", "content": "x"}], f"{BEGIN}\nA\n{END}")
    twice = apply_block(once, f"{BEGIN}\nB\n{END}")
    assert twice[0]["content"] == [
        {"type": "text", "text": "Own rules."},
        {"type": "text", "text": f"{BEGIN}\nB\n{END}"},
    ]


def test_only_the_first_system_message_is_touched() -> None:
    s1 = {"role": "system", "content": "one"}
    s2 = {"role": "system", "content": "two"}
    out = apply_block([s1, {"role": "user", "content": "x"}, s2], "B")
    assert out[0]["content"] == "one\n\nB"
    assert out[2] is s2
