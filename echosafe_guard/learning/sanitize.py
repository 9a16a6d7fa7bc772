"""Keeping learnt insight text abstract: no personal data, no copied request or answer text."""

from __future__ import annotations

import re

__all__ = ["redact", "scrub_copies", "words"]

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
