"""The guard's block: retrieved insights rendered as marked system-prompt text, merged idempotently.

The guard's text sits between two marker lines. Merging into a system text that already holds a
block replaces it instead of adding a second one; the user's own system text is kept. Adapters
use :func:`merge_system_text` for a plain-text system message; ``input/openai.py`` applies the
block to OpenAI/LiteLLM message lists.
"""

from __future__ import annotations

from collections.abc import Sequence

from echosafe_guard.memory.insight import ScoredInsight, Verdict
from echosafe_guard.policy.models import Policy

__all__ = ["BEGIN", "END", "merge_system_text", "render_block", "strip_block"]

BEGIN = "<echosafe-guard>"
END = "</echosafe-guard>"


def render_block(policy: Policy, hits: Sequence[ScoredInsight]) -> str | None:
    """The guard's system-prompt text for these insights; ``None`` when nothing is added."""
    p = policy.prompt
    if not hits and p.only_with_insights:
        return None
    lines = [p.preamble.strip()]
    if hits:
        lines += ["", p.insights_header.strip()]
        for n, hit in enumerate(hits, start=1):
            ins = hit.insight
            cat = policy.taxonomy.categories.get(ins.category)
            lines.append(
                p.insight_template.format(
                    n=n,
                    verdict=ins.verdict.value.upper(),
                    category=ins.category,
                    category_title=cat.title if cat else ins.category,
                    scenario=ins.scenario,
                    intent_signals="; ".join(ins.intent_signals) or "-",
                    guidance=ins.guidance,
                    score=f"{hit.score:.2f}",
                    support=ins.support,
                    status=ins.status.value,
                ).strip()
            )
        verdicts = {h.insight.verdict for h in hits}
        if Verdict.SAFE in verdicts and Verdict.UNSAFE in verdicts and p.conflict_note:
            lines += ["", p.conflict_note.strip()]
    return f"{BEGIN}\n" + "\n".join(lines) + f"\n{END}"


def strip_block(text: str) -> str:
    """``text`` without any guard block (and without the blank line that joined it)."""
    while True:
        start = text.find(BEGIN)
        if start < 0:
            return text
        end = text.find(END, start)
        if end < 0:
            return text[:start].rstrip()
        text = (text[:start].rstrip("\n") + "\n\n" + text[end + len(END) :].lstrip("\n")).strip(
            "\n"
        )


def merge_system_text(own: str, block: str | None) -> str:
    """``own`` system text with ``block`` in place of any earlier guard block (``None``: the
    earlier block is removed)."""
    own = strip_block(own)
    if block is None:
        return own
    return f"{own.rstrip()}\n\n{block}" if own.strip() else block
