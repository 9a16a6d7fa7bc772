"""The guard's block: retrieved insights rendered as marked system-prompt text, merged idempotently.

The guard's text sits between two marker lines that carry a per-process random nonce, so no
user, operator or insight text can open or close the block (and insight fields are rendered
escaped: no markup characters, one line). Merging into a system text that already holds this
process's block replaces it instead of adding a second one; the operator's own system text is
kept byte-for-byte, whatever it contains (even the marker words without the nonce). Adapters
use :func:`merge_system_text` for a plain-text system message; ``input/openai.py`` applies the
block to OpenAI/LiteLLM message lists.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from echosafe_guard.learning.sanitize import clean_text
from echosafe_guard.memory.insight import Insight, ScoredInsight, Verdict
from echosafe_guard.policy.models import Mode, Policy
from echosafe_guard.retrieval.decide import decide
from echosafe_guard.retrieval.verdict_model import Call

__all__ = [
    "BEGIN",
    "END",
    "estimate_tokens",
    "merge_system_parts",
    "merge_system_text",
    "render_block",
    "strip_block",
]


def _nonce() -> str:
    """Random per process; ``ECHOSAFE_BLOCK_NONCE`` (16 hex digits) pins it, so that runs that
    must send the same prompts (an evaluation and its cache, several workers behind one prefix
    cache) can. A pinned value is a secret: whoever knows it can close the block."""
    pinned = os.environ.get("ECHOSAFE_BLOCK_NONCE", "").strip().lower()
    if pinned and (len(pinned) != 16 or any(c not in "0123456789abcdef" for c in pinned)):
        logging.getLogger("echosafe_guard.block").warning(
            "ECHOSAFE_BLOCK_NONCE must be 16 hex digits: ignored, a random one is used"
        )
        pinned = ""
    return pinned or secrets.token_hex(8)


_NONCE = _nonce()
BEGIN = f"<echosafe-guard-{_NONCE}>"
"""The block's first line: unguessable (unless pinned), fixed for the life of the process."""
END = f"</echosafe-guard-{_NONCE}>"
_SEP = "\n\n"


def _side(policy: Policy, ins: Insight, prefix: str = "") -> dict[str, str]:
    cat = policy.taxonomy.categories.get(ins.category)
    signals = [s for s in (clean_text(x, 200) for x in ins.intent_signals) if s]
    return {
        f"{prefix}scenario": clean_text(ins.scenario),
        f"{prefix}intent_signals": "; ".join(signals) or "-",
        f"{prefix}category": clean_text(ins.category, 64),
        f"{prefix}category_title": clean_text(cat.title if cat else ins.category, 200),
    }


def _best(hits: Sequence[ScoredInsight], verdict: Verdict) -> Insight | None:
    return next((h.insight for h in hits if h.insight.verdict is verdict), None)


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about four characters a token for English BPE vocabularies)."""
    return (len(text) + 3) // 4


def _shorten(text: str, chars: int) -> str:
    if len(text) <= chars:
        return text
    cut = text[: max(chars - 1, 1)].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


def _fit(render: Callable[[int, int], str], budget: int) -> str:
    """``render(max_signals, max_scenario_chars)`` shortened until it fits ``budget`` tokens."""
    for signals, chars in ((5, 400), (2, 400), (2, 160), (1, 100), (0, 60)):
        text = render(signals, chars)
        if estimate_tokens(text) <= budget:
            return text
    return text


def render_block(
    policy: Policy,
    hits: Sequence[ScoredInsight],
    call: Call | None = None,
    *,
    confident: bool = False,
) -> str | None:
    """The guard's system-prompt text for these insights and the retrieval's ``call`` on the
    request (``None``: read from the best insight's verdict); ``None`` when nothing is added.

    ``unsafe``: the best unsafe insight with the ``refuse`` template when the evidence is strong
    enough to block (``confident``: the model is asked to give the policy's block message as its
    whole reply), else with the ``unsafe`` template; ``unsure``: the best unsafe
    and safe insights side by side (``contrast``, by default empty: no block), or
    ``maybe_unsafe`` with only an unsafe one; ``safe``: the ``safe`` template (by default empty:
    no block). An empty template writes no block for its call."""
    p = policy.prompt
    if not hits:
        return None
    if call is None:
        call = decide(hits, mode=Mode.ADVISE, block_threshold=1.0).call
    unsafe, safe = _best(hits, Verdict.UNSAFE), _best(hits, Verdict.SAFE)
    template, sides = "", []
    if call is Call.UNSAFE and unsafe is not None:
        template, sides = (p.refuse if confident and p.refuse.strip() else p.unsafe), [(unsafe, "")]
    elif call is Call.UNSURE and unsafe is not None and safe is not None:
        template, sides = p.contrast, [(unsafe, "unsafe_"), (safe, "safe_")]
    elif call is Call.UNSURE and unsafe is not None:
        template, sides = p.maybe_unsafe, [(unsafe, "")]
    elif call is not Call.UNSAFE and safe is not None:
        template, sides = p.safe, [(safe, "")]
    if not template.strip():
        return None

    def render(max_signals: int, chars: int) -> str:
        # The block message is quoted in the block: no double quotes inside, one line.
        fields = {"block_message": clean_text(policy.block_message, 300).replace('"', "'")}
        for ins, prefix in sides:
            short = ins.model_copy(
                update={
                    "scenario": _shorten(ins.scenario.strip(), chars),
                    "intent_signals": tuple(ins.intent_signals[:max_signals]),
                }
            )
            fields |= _side(policy, short, prefix)
        body = " ".join(template.format(**fields).split())
        return f"{BEGIN}\n{' '.join(p.preamble.split())}\n{body}\n{END}"

    return _fit(render, p.max_tokens)


def strip_block(text: str) -> str:
    """``text`` without this process's guard blocks and the separator that joined each one: the
    exact inverse of :func:`merge_system_text`. Anything else, including marker-like text without
    the nonce and a begin marker without its end, is kept byte-for-byte."""
    while True:
        start = text.find(BEGIN)
        if start < 0:
            return text
        end = text.find(END, start + len(BEGIN))
        if end < 0:
            return text
        stop = end + len(END)
        if text.startswith(_SEP, start - len(_SEP)) and start >= len(_SEP):
            start -= len(_SEP)
        elif start == 0 and text.startswith(_SEP, stop):
            stop += len(_SEP)
        text = text[:start] + text[stop:]


def merge_system_text(own: str, block: str | None) -> str:
    """``own`` system text with ``block`` in place of any earlier guard block (``None``: the
    earlier block is removed). ``strip_block`` of the result gives ``own`` back byte-for-byte."""
    own = strip_block(own)
    if block is None:
        return own
    return f"{own}{_SEP}{block}" if own else block


def merge_system_parts(parts: Sequence[Any], block: str | None) -> list[Any]:
    """A content-part list (``{"type": "text", "text": ...}`` parts among others) with ``block``
    as its last text part in place of any earlier guard block (``None``: removed); the other
    parts are kept as the same objects."""
    out: list[Any] = []
    for part in parts:
        if (
            isinstance(part, Mapping)
            and part.get("type") == "text"
            and BEGIN in str(part.get("text", ""))
        ):
            rest = strip_block(str(part["text"]))
            if rest.strip():
                out.append({**part, "text": rest})
        else:
            out.append(part)
    if block is not None:
        out.append({"type": "text", "text": block})
    return out
