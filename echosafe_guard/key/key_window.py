"""Which part of a long text its key is computed from: its first and last tokens.

A text encoder reads at most ``max_seq_length`` tokens (384 for all-mpnet-base-v2) and its
forward time grows with every token (mpnet on one thread: ~35 ms at 12 tokens, ~150 ms at 64,
~690 ms at 320). Cut at the encoder's own limit, a long request keeps its beginning and loses its
end: a pasted document or log followed by the actual ask is keyed on the document. The key window
keeps the first ``head`` and the last ``tail`` tokens instead (the ask is usually at the end, and
the earlier user turns of the context window come first), cut at word boundaries, so that every
key costs at most one ``head + tail`` forward.

The cut is made on the text, with the model's own ``tokenizers`` tokenizer, so the torch and ONNX
embedders key the same shortened text and their keys stay equal. Texts within the window are
left untouched (every bundled and held-out twin is under 100 tokens).
"""

from __future__ import annotations

from typing import Any

from echosafe_guard.exceptions import ConfigError

__all__ = ["DEFAULT_KEY_TOKENS", "KeyWindow"]

DEFAULT_KEY_TOKENS = 64
"""Tokens a key is computed from at most: the first quarter and the last three quarters."""
_JOIN = "\n"


class KeyWindow:
    """Shortens texts longer than ``head + tail`` tokens to their first ``head`` and last
    ``tail`` tokens (fewer when a cut moves back to a word boundary).

    ``tokenizer`` is a ``tokenizers.Tokenizer``; a private copy without truncation or padding is
    kept, so the caller's tokenizer is not changed. Thread-safe after construction."""

    def __init__(self, tokenizer: Any, *, head: int, tail: int, max_chars: int = 8000) -> None:
        if head < 0 or tail < 1 or max_chars < 2:
            raise ConfigError(
                f"key window needs head >= 0, tail >= 1 and max_chars >= 2, got {head}, {tail}, "
                f"{max_chars}"
            )
        from tokenizers import Tokenizer

        own = Tokenizer.from_str(tokenizer.to_str())
        own.no_truncation()
        own.no_padding()
        self._tokenizer = own
        self.head = head
        self.tail = tail
        self.max_chars = max_chars

    @classmethod
    def of_size(cls, tokenizer: Any, tokens: int, *, max_chars: int = 8000) -> KeyWindow:
        """A window of ``tokens`` tokens: the first quarter and the last three quarters."""
        if tokens < 2:
            raise ConfigError(f"a key window needs at least 2 tokens, got {tokens}")
        return cls(tokenizer, head=tokens // 4, tail=tokens - tokens // 4, max_chars=max_chars)

    @property
    def tokens(self) -> int:
        return self.head + self.tail

    def apply(self, text: str) -> str:
        """``text`` itself when it fits, else its head and tail joined by a newline."""
        if len(text) <= self.tokens:  # a token is at least one character
            return text
        if len(text) > self.max_chars:  # bounds the tokenizer's work; keeps both ends
            keep_head = self.max_chars * self.head // self.tokens
            text = text[:keep_head] + _JOIN + text[len(text) - (self.max_chars - keep_head) :]
        enc = self._tokenizer.encode(text, add_special_tokens=False)
        offsets: list[tuple[int, int]] = enc.offsets
        words: list[int | None] = enc.word_ids
        n = len(offsets)
        if n <= self.tokens:
            return text

        def starts_word(i: int) -> bool:
            return i == 0 or words[i] is None or words[i] != words[i - 1]

        head_end = self.head
        while head_end > 0 and not starts_word(head_end):
            head_end -= 1
        tail_start = n - self.tail
        while tail_start < n and not starts_word(tail_start):
            tail_start += 1
        if tail_start >= n:  # one word longer than the tail: cut inside it
            tail_start = n - self.tail
        head_text = text[: offsets[head_end - 1][1]].rstrip() if head_end > 0 else ""
        tail_text = text[offsets[tail_start][0] :].lstrip()
        return f"{head_text}{_JOIN}{tail_text}" if head_text else tail_text
