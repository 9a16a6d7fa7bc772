"""Writing retrieved insights into the system prompt, idempotently.

The guard's text sits between two marker lines. Preparing messages that were already prepared
replaces the marked block instead of adding a second one; the user's own system text is kept.
Every message other than the system message is passed through as the very same object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from echosafe_guard.memory.insight import ScoredInsight, Verdict
from echosafe_guard.policy.models import Policy

__all__ = ["BEGIN", "END", "apply_block", "render_block", "strip_block"]

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


def _merge_text(own: str, block: str | None) -> str:
    own = strip_block(own)
    if block is None:
        return own
    return f"{own.rstrip()}\n\n{block}" if own.strip() else block


def apply_block(messages: Sequence[Mapping[str, Any]], block: str | None) -> list[Any]:
    """A new message list with ``block`` in the first system message (created if absent).

    An earlier guard block is replaced, never duplicated; with ``block=None`` it is removed.
    """
    out: list[Any] = list(messages)
    for i, msg in enumerate(out):
        if msg.get("role") != "system":
            continue
        content = msg.get("content")
        new = dict(msg)
        if isinstance(content, list):
            parts: list[Any] = []
            for part in content:
                if (
                    isinstance(part, Mapping)
                    and part.get("type") == "text"
                    and BEGIN in str(part.get("text", ""))
                ):
                    rest = strip_block(str(part["text"]))
                    if rest.strip():
                        parts.append({**part, "text": rest})
                else:
                    parts.append(part)
            if block is not None:
                parts.append({"type": "text", "text": block})
            new["content"] = parts
        else:
            new["content"] = _merge_text(content if isinstance(content, str) else "", block)
        out[i] = new
        return out
    if block is not None:
        out.insert(0, {"role": "system", "content": block})
    return out
