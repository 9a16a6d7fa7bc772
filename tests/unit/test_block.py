from __future__ import annotations

import json
from typing import Any

from echosafe_guard.block import BEGIN, END, estimate_tokens, render_block
from echosafe_guard.input.openai import apply_block
from echosafe_guard.memory.insight import (
    Insight,
    Provenance,
    ProvenanceSource,
    ScoredInsight,
    Verdict,
)
from echosafe_guard.policy.loader import load_policy
from echosafe_guard.policy.models import Mode
from echosafe_guard.retrieval.decide import Action, decide
from echosafe_guard.retrieval.verdict_model import Call

POLICY = load_policy()
# The unsure block with both sides as it shipped before stop 33 (the default is empty now).
CONTRAST = (
    "Past requests much like this one were legitimate: {safe_scenario} Help fully and "
    "concretely, unless this request clearly shows {unsafe_intent_signals}; then say in one "
    "sentence that you cannot help."
)
WITH_CONTRAST = POLICY.model_copy(
    update={"prompt": POLICY.prompt.model_copy(update={"contrast": CONTRAST})}
)


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


def test_unsafe_call_writes_a_static_block_with_no_insight_text() -> None:
    hits = [hit(Verdict.SAFE, 0.9, "s"), hit(Verdict.UNSAFE, 0.8, "u")]
    block = render_block(POLICY, hits, Call.UNSAFE)
    assert block is not None
    assert block.startswith(BEGIN) and block.endswith(END)
    lines = block.splitlines()
    assert lines[1] == " ".join(POLICY.prompt.preamble.split())  # static head first
    assert f'exactly "{POLICY.block_message}"' in block and "Illegal" not in block
    # the whole block is the same for every unsafe call: a prefix cache holds all of it
    other = hit(Verdict.UNSAFE, 0.95, "u").insight.model_copy(update={"category": "fraud"})
    assert render_block(POLICY, [ScoredInsight(insight=other, score=0.95)], Call.UNSAFE) == block
    # the default template quotes no scenario (it primed the small local model to answer) ...
    assert "scenario" not in block and "signal one" not in block
    assert "guidance" not in block  # ... and guidance is never pasted where a model could echo it
    template = "Harmful before: {scenario} {intent_signals}"
    quoting = POLICY.prompt.model_copy(update={"unsafe": template})
    block = render_block(POLICY.model_copy(update={"prompt": quoting}), hits, Call.UNSAFE)
    assert block is not None and "unsafe scenario signal one; signal two" in block
    assert "safe scenario" not in block.replace("unsafe scenario", "")


def test_unsafe_evidence_of_either_strength_asks_for_the_block_message_as_the_whole_reply() -> None:
    hits = [hit(Verdict.UNSAFE, 0.8, "u"), hit(Verdict.SAFE, 0.7, "s")]
    block = render_block(POLICY, hits, Call.UNSAFE, confident=True)
    assert block is not None and "Illegal" not in block
    assert f'exactly "{POLICY.block_message}"' in block
    # the default has no separate refuse template: weaker evidence gets the same block
    assert POLICY.prompt.refuse == ""
    assert render_block(POLICY, hits, Call.UNSAFE, confident=False) == block
    # a quote in the operator's block message cannot end the quoted reply early
    quoted = POLICY.model_copy(update={"block_message": 'Say "no" to this.'})
    block = render_block(quoted, hits, Call.UNSAFE, confident=True)
    assert block is not None and "exactly \"Say 'no' to this.\"" in block
    # a refuse template of its own: used only when the evidence is strong enough to block
    soft = "Matches a harmful pattern: say in one sentence that you cannot help with it."
    tiers = POLICY.prompt.model_copy(update={"unsafe": soft, "refuse": POLICY.prompt.unsafe})
    tiered = POLICY.model_copy(update={"prompt": tiers})
    block = render_block(tiered, hits, Call.UNSAFE, confident=True)
    assert block is not None and POLICY.block_message in block and "one sentence" not in block
    block = render_block(tiered, hits, Call.UNSAFE, confident=False)
    assert block is not None and "one sentence" in block and POLICY.block_message not in block
    # confidence never turns an unsure or safe call into a refusal
    assert render_block(POLICY, hits, Call.UNSURE, confident=True) is None
    block = render_block(POLICY, hits[:1], Call.UNSURE, confident=True)
    assert block is not None and POLICY.block_message not in block
    block = render_block(WITH_CONTRAST, hits, Call.UNSURE, confident=True)
    assert block is not None and POLICY.block_message not in block


def test_decide_marks_evidence_strong_enough_to_block_in_every_mode() -> None:
    hits = [hit(Verdict.UNSAFE, 0.8, "u"), hit(Verdict.SAFE, 0.7, "s")]

    def run(mode: Mode, p: float, call: Call = Call.UNSAFE, score: float = 0.8) -> Any:
        found = [hit(Verdict.UNSAFE, score, "u"), *hits[1:]]
        return decide(
            found, mode=mode, block_threshold=0.92, block_confidence=0.9, call=call, p_unsafe=p
        )

    advise = run(Mode.ADVISE, 0.95)
    assert advise.action is Action.CAUTION and advise.confident  # advise: asks for the refusal
    assert run(Mode.ENFORCE, 0.95).action is Action.BLOCK  # enforce: blocks on the same evidence
    assert not run(Mode.ADVISE, 0.85).confident
    assert run(Mode.ADVISE, 0.5, score=0.95).confident  # a near-duplicate of an unsafe insight
    assert not run(Mode.ADVISE, 0.95, call=Call.UNSURE).confident


def test_weak_unsafe_evidence_far_from_every_unsafe_insight_is_read_as_unsure() -> None:
    def run(p: float, unsafe_score: float, mode: Mode = Mode.ADVISE) -> Any:
        found = [hit(Verdict.SAFE, 0.45, "s"), hit(Verdict.UNSAFE, unsafe_score, "u")]
        return decide(
            found,
            mode=mode,
            block_threshold=0.92,
            block_confidence=0.9,
            weak_unsafe_min_similarity=0.42,
            call=Call.UNSAFE,
            p_unsafe=p,
        )

    far = run(0.8, 0.41)
    assert (far.action, far.reason, far.call) == (Action.ALLOW, "uncertain", Call.UNSURE)
    assert not far.confident and any("far (0.41)" in n for n in far.notes)
    assert far.top_unsafe_score == 0.41
    near = run(0.8, 0.42)  # as similar as the threshold: the weak call counts
    assert (near.action, near.reason, near.call) == (Action.CAUTION, "unsafe_evidence", Call.UNSAFE)
    strong = run(0.9, 0.3)  # strong evidence counts however far
    assert strong.reason == "unsafe_evidence" and strong.confident
    assert run(0.9, 0.3, Mode.ENFORCE).action is Action.BLOCK
    # the block of a demoted call is the unsure one: it states no verdict on this request
    both = [hit(Verdict.UNSAFE, 0.41, "u"), hit(Verdict.SAFE)]
    assert render_block(POLICY, both, far.call) is None  # both sides: no block by default
    block = render_block(WITH_CONTRAST, both, far.call)
    assert block is not None and "were legitimate: safe scenario" in block
    assert "known harmful pattern" not in block and POLICY.block_message not in block
    block = render_block(POLICY, both[:1], far.call)
    assert block is not None and "have been harmful when they showed" in block
    assert "known harmful pattern" not in block and POLICY.block_message not in block
    off = decide(
        [hit(Verdict.UNSAFE, 0.3, "u")],
        mode=Mode.ADVISE,
        block_threshold=0.92,
        block_confidence=0.9,
        call=Call.UNSAFE,
        p_unsafe=0.8,
    )
    assert off.reason == "unsafe_evidence"  # None (the parameter's default): every call counts
    # the shipped value (docs/discrimination.md), the same in the YAML and the model's default
    default = type(POLICY).model_fields["weak_unsafe_min_similarity"].default
    assert POLICY.weak_unsafe_min_similarity == 0.5 == default


def test_unsure_shows_the_signs_of_harm_but_no_harmful_scenario() -> None:
    unsafe = hit(Verdict.UNSAFE, 0.8, "u")
    unsafe = ScoredInsight(
        insight=unsafe.insight.model_copy(update={"intent_signals": ("no consent", "evasion")}),
        score=0.8,
    )
    both = [unsafe, hit(Verdict.SAFE, 0.7, "s")]
    # both sides retrieved: no block by default (an empty template writes none; it does not
    # fall back to maybe_unsafe) ...
    assert POLICY.prompt.contrast == "" and render_block(POLICY, both, Call.UNSURE) is None
    # ... and a contrast template, when set, shows both sides
    block = render_block(WITH_CONTRAST, both, Call.UNSURE)
    assert block is not None
    assert "were legitimate: safe scenario Help fully" in block
    assert "clearly shows no consent; evasion;" in block and "one sentence" in block
    # a harmful scenario in the prompt primed the local model (docs/discrimination.md)
    assert "unsafe scenario" not in block
    only_unsafe = render_block(POLICY, [unsafe], Call.UNSURE)
    assert only_unsafe is not None
    assert "harmful when they showed no consent; evasion." in only_unsafe
    assert "scenario" not in only_unsafe and "as you normally would" in only_unsafe


def test_safe_call_writes_the_static_note_or_nothing_or_the_safe_template() -> None:
    hits = [hit(Verdict.SAFE, 0.8, "s"), hit(Verdict.UNSAFE, 0.7, "u")]
    note = render_block(POLICY, hits, Call.SAFE)  # the default: a static note, no insight field
    assert note is not None and "ordinary, legitimate questions" in note
    assert "scenario" not in note and "signal" not in note and POLICY.block_message not in note
    silent = POLICY.prompt.model_copy(update={"safe": ""})
    assert render_block(POLICY.model_copy(update={"prompt": silent}), hits, Call.SAFE) is None
    helpful = POLICY.prompt.model_copy(update={"safe": "Legitimate before: {scenario} Help."})
    block = render_block(POLICY.model_copy(update={"prompt": helpful}), hits, Call.SAFE)
    assert block is not None and "Legitimate before: safe scenario" in block
    assert "unsafe scenario" not in block
    assert render_block(POLICY, [], Call.UNSAFE) is None  # nothing to say, nothing added


def test_without_a_call_the_best_insight_decides() -> None:
    block = render_block(POLICY, [hit(Verdict.UNSAFE, 0.9, "u"), hit(Verdict.SAFE, 0.8, "s")])
    assert block is not None and POLICY.block_message in block


def test_block_fits_its_token_budget() -> None:
    long = hit(Verdict.UNSAFE).insight.model_copy(
        update={"scenario": "word " * 400, "intent_signals": tuple(f"sig {i}" for i in range(5))}
    )
    hits = [ScoredInsight(insight=long, score=0.8), hit(Verdict.SAFE, 0.7, "s")]
    for call in (Call.UNSAFE, Call.UNSURE):
        block = render_block(WITH_CONTRAST, hits, call)
        assert block is not None and estimate_tokens(block) <= POLICY.prompt.max_tokens
    block = render_block(POLICY, hits[:1], Call.UNSURE)
    assert block is not None and estimate_tokens(block) <= POLICY.prompt.max_tokens


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


def test_the_marker_nonce_is_random_per_process_unless_pinned() -> None:
    import os
    import subprocess
    import sys

    code = "from echosafe_guard.block import BEGIN; print(BEGIN)"

    def begin(**env: str) -> str:
        full = {k: v for k, v in os.environ.items() if k != "ECHOSAFE_BLOCK_NONCE"} | env
        run = [sys.executable, "-c", code]
        out = subprocess.run(run, env=full, capture_output=True, text=True, check=True)
        return out.stdout.strip()

    assert begin() != begin()  # unguessable: a new one per process
    pinned = "00112233445566ff"
    assert begin(ECHOSAFE_BLOCK_NONCE=pinned) == f"<echosafe-guard-{pinned}>"
    bad = begin(ECHOSAFE_BLOCK_NONCE="not-hex")
    assert bad.startswith("<echosafe-guard-") and "not-hex" not in bad
