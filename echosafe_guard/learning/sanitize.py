"""Insight text is data, never instructions.

* :func:`clean_text`: every insight field, at every entry (learnt, seeded, imported), is
  normalised (NFKC), stripped of control, format and markup characters, put on one line and
  capped;
* :func:`addresses_model`: text that speaks to the model rather than describing a request (role
  markers, "ignore previous instructions", chat-template or tag-like tokens) is named, so that
  the caller rejects a learnt draft or quarantines a seeded or imported record;
* :func:`sanitize_insight`: both applied to a whole record;
* :func:`redact`, :func:`scrub_copies`: learnt text stays abstract (no personal data, no copied
  request or answer text).
"""

from __future__ import annotations

import re
import unicodedata

from echosafe_guard.memory.insight import MAX_SIGNALS, MAX_TEXT, Insight, InsightStatus

__all__ = [
    "MAX_SIGNAL_CHARS",
    "addresses_model",
    "clean_text",
    "redact",
    "sanitize_insight",
    "says_decline",
    "says_help",
    "scrub_copies",
    "words",
]

MAX_SIGNAL_CHARS = 200
_MARKUP = frozenset("<>`")
"""Replaced by a space: they open tags, chat-template tokens and code fences."""
_ROLE = re.compile(
    r"(?:system|assistant|developer|user|human)\s*(?:message|prompt)?\s*:", re.IGNORECASE
)
"""Role markers and overrides match even glued to the words around them (``xassistant:``)."""
_OVERRIDE = re.compile(
    r"(?:ignore|disregard|forget|override)[^.]{0,30}?"
    r"(?:previous|prior|above|earlier|preceding|all|your|system|safety)"
    r"[^.]{0,20}?(?:instruction|prompt|guideline|directive|message)"
    r"|(?:new|updated|real) instructions|you are now|from now on"
    r"|never refuse|do anything now|developer mode",
    re.IGNORECASE,
)
_TOKENS = re.compile(
    r"<\|[^|\n]{0,40}\|>|\[/?INST\]|<<\s*/?\s*SYS\s*>>|#{2,}\s*(?:instruction|system|response)"
    r"|</?[A-Za-z][\w:.-]{0,40}(?:\s[^<>]{0,200})?/?>|echosafe-guard",
    re.IGNORECASE,
)


def _normalise(text: str) -> str:
    """NFKC, lone surrogates and control/format/private-use/unassigned characters dropped,
    every whitespace character a space."""
    text = unicodedata.normalize("NFKC", text.encode("utf-8", "ignore").decode("utf-8"))
    return "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch)[0] != "C"
    )


_DECLINE = re.compile(
    r"\b(?:declin|refus|reject|withhold|deny|denies)\w*|\b(?:do not|don't|never|must not|"
    r"should not|shouldn't|won't|cannot|can't|not)\s+(?:\w+\s+){0,2}?(?:help|assist|provide|give|"
    r"share|explain|answer|comply|describe)",
    re.IGNORECASE,
)
_HELP = re.compile(
    r"\b(?:help|assist|answer|provide|give|explain|share|comply|describe|list|walk)\w*\b",
    re.IGNORECASE,
)


def says_decline(text: str) -> bool:
    """Guidance that tells the model to decline (or not to help with something)."""
    return _DECLINE.search(text) is not None


def says_help(text: str) -> bool:
    """Guidance that tells the model to help and nowhere to decline."""
    return _HELP.search(text) is not None and not says_decline(text)


def clean_text(text: str, max_chars: int = MAX_TEXT) -> str:
    """``text`` normalised (NFKC), without control, format, private-use or unassigned
    characters nor ``< > ` ``, on one line (whitespace runs become one space) and cut at a word
    boundary to at most ``max_chars`` characters (ending ``...``). Lone surrogates are dropped.
    Idempotent."""
    text = " ".join("".join(" " if ch in _MARKUP else ch for ch in _normalise(text)).split())
    if len(text) > max_chars:  # "..." not "…": NFKC would turn one into the other next time
        cut = text[: max(max_chars - 3, 1)]
        text = (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;:.") + "..."
    return text[:max_chars]


def addresses_model(text: str) -> str | None:
    """Why ``text`` reads as words to the model rather than a description of a request (a role
    marker, an instruction override, a chat-template or tag-like token), or ``None``.

    Checked on the raw text and on its normalised form (which folds look-alike characters, e.g.
    full-width less-than signs, and drops zero-width ones)."""
    raw = text.encode("utf-8", "ignore").decode("utf-8")
    for candidate in (raw, _normalise(raw)):
        for name, pattern in (("tag", _TOKENS), ("role", _ROLE), ("override", _OVERRIDE)):
            m = pattern.search(candidate)
            if m:
                return f"{name} {m.group().strip()[:40]!r}"
    return None


def sanitize_insight(ins: Insight) -> tuple[Insight, str | None]:
    """``ins`` with every text field cleaned (:func:`clean_text`), and why it addresses the
    model (then the record is returned ``quarantined``: a human decides in ``memory review``).

    Raises ``ValueError`` when the scenario or the guidance has nothing left."""
    fields = [ins.scenario, ins.guidance, *ins.intent_signals]
    reason = next((r for r in map(addresses_model, fields) if r), None)
    scenario, guidance = clean_text(ins.scenario), clean_text(ins.guidance)
    if not scenario or not guidance:
        raise ValueError(f"insight {ins.id!r}: no scenario or guidance left after cleaning")
    signals = tuple(s for s in (clean_text(x, MAX_SIGNAL_CHARS) for x in ins.intent_signals) if s)[
        :MAX_SIGNALS
    ]
    update: dict[str, object] = {
        "scenario": scenario,
        "guidance": guidance,
        "intent_signals": signals,
        "category": clean_text(ins.category, 64) or "other",
    }
    if reason and ins.status is not InsightStatus.REJECTED:
        update["status"] = InsightStatus.QUARANTINED
    return ins.model_copy(update=update), reason


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")
_PHONE = re.compile(r"(?<!\w)\+?\d[\d\s().-]{6,}\d(?!\w)")
_URL = re.compile(r"\bhttps?://\S+")
_WORD = re.compile(r"[\w']+")


def redact(text: str) -> str:
    """Replace e-mail addresses, card numbers, phone numbers and URLs with placeholders."""
    text = _EMAIL.sub("[email]", text)
    text = _URL.sub("[url]", text)
    text = _CARD.sub("[number]", text)
    return _PHONE.sub("[phone]", text)


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def scrub_copies(text: str, sources: list[str], max_words: int) -> tuple[str, int]:
    """Replace every run of more than ``max_words`` consecutive words that also occurs in one
    of ``sources`` with ``[…]``. Returns the text and how many runs were removed."""
    n = max_words + 1
    grams: set[tuple[str, ...]] = set()
    for src in sources:
        ws = words(src)
        grams.update(tuple(ws[i : i + n]) for i in range(len(ws) - n + 1))
    if not grams:
        return text, 0
    tokens = list(_WORD.finditer(text))
    low = [t.group().lower() for t in tokens]
    copied = [False] * len(tokens)
    for i in range(len(tokens) - n + 1):
        if tuple(low[i : i + n]) in grams:
            for j in range(i, i + n):
                copied[j] = True
    if not any(copied):
        return text, 0
    out: list[str] = []
    pos = 0
    runs = 0
    i = 0
    while i < len(tokens):
        if not copied[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(tokens) and copied[j + 1]:
            j += 1
        out.append(text[pos : tokens[i].start()])
        out.append("[…]")
        pos = tokens[j].end()
        runs += 1
        i = j + 1
    out.append(text[pos:])
    return "".join(out), runs
