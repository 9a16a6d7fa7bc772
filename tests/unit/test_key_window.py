"""The key window: a long text is keyed on its first and last tokens, cut at word boundaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from echosafe_guard.exceptions import ConfigError
from echosafe_guard.key.key_window import DEFAULT_KEY_TOKENS, KeyWindow
from echosafe_guard.key.sentence_transformer_embedder import MINILM_MODEL, resolve_text_model
from echosafe_guard.settings import GuardSettings

tokenizers = pytest.importorskip("tokenizers")

LOG = "2024-05-01 22:14:03 WARN retry 3/5 connecting to 10.0.0.12:5432 (attempt two)\n"
ASK = "How do I get into my neighbour's wifi network without anyone noticing?"


@pytest.fixture(scope="module")
def tokenizer() -> object:
    tok = tokenizers.Tokenizer.from_file(
        str(Path(resolve_text_model(MINILM_MODEL)) / "tokenizer.json")
    )
    tok.enable_truncation(128)
    return tok


def _ids(tok: object, text: str) -> list[int]:
    plain = tokenizers.Tokenizer.from_str(tok.to_str())  # type: ignore[attr-defined]
    plain.no_truncation()
    plain.no_padding()
    return list(plain.encode(text, add_special_tokens=False).ids)


def test_texts_within_the_window_are_untouched(tokenizer: object) -> None:
    window = KeyWindow.of_size(tokenizer, 64)
    for text in ("", "x", ASK, "word " * 60, LOG + ASK):
        assert len(_ids(tokenizer, text)) <= 64
        assert window.apply(text) == text


def test_a_long_text_keeps_its_head_and_its_ask(tokenizer: object) -> None:
    text = "Background first. " + LOG * 12 + ASK
    window = KeyWindow.of_size(tokenizer, 64)
    assert (window.head, window.tail, window.tokens) == (16, 48, 64)
    out = window.apply(text)
    full, got = _ids(tokenizer, text), _ids(tokenizer, out)
    assert len(full) > 200 and len(got) <= 64
    assert out.endswith(ASK) and out.startswith("Background first.")
    head, tail = out.split("\n", 1)[0], out.rsplit("\n", 1)[-1]
    assert text.startswith(head) and text.endswith(tail)  # pieces of the text, nothing added
    # Cut at word boundaries: the kept tokens are the text's own first and last tokens.
    n_head = len(_ids(tokenizer, head))
    assert got[:n_head] == full[:n_head] and got[n_head:] == full[len(full) - len(got) + n_head :]
    assert 64 - len(got) < 8  # a cut moves back at most to the start of its word


def test_the_middle_of_a_long_text_does_not_change_its_key_text(tokenizer: object) -> None:
    window = KeyWindow.of_size(tokenizer, 32)  # 8 head tokens, 24 tail tokens
    head, tail = (
        "Dear team, one two three four five six. ",
        " One more thing: seven eight nine ten eleven twelve. " + ASK,
    )
    a = window.apply(head + "alpha beta gamma " * 40 + tail)
    b = window.apply(head + "delta epsilon zeta " * 40 + tail)
    assert a == b and window.apply("Dear all, " + "delta " * 80 + tail) != a


def test_one_word_longer_than_the_tail_is_cut_inside(tokenizer: object) -> None:
    window = KeyWindow(tokenizer, head=0, tail=8)
    text = "start " + "-".join(["a1b2"] * 40)  # one pre-token run of many tokens
    out = window.apply(text)
    assert len(_ids(tokenizer, out)) <= 8 and text.endswith(out)


def test_huge_texts_are_clipped_at_both_ends_before_tokenizing(tokenizer: object) -> None:
    window = KeyWindow.of_size(tokenizer, 64, max_chars=400)
    text = "Opening line here. " + "filler words " * 20_000 + ASK
    out = window.apply(text)
    assert out.startswith("Opening line here.") and out.endswith(ASK)
    assert len(_ids(tokenizer, out)) <= 64


def test_the_callers_tokenizer_is_not_changed(tokenizer: object) -> None:
    before = tokenizer.truncation  # type: ignore[attr-defined]
    KeyWindow.of_size(tokenizer, 64).apply(LOG * 20)
    assert tokenizer.truncation == before  # type: ignore[attr-defined]


@pytest.mark.parametrize(("head", "tail", "max_chars"), [(-1, 8, 100), (4, 0, 100), (4, 8, 1)])
def test_bad_windows_are_config_errors(
    tokenizer: object, head: int, tail: int, max_chars: int
) -> None:
    with pytest.raises(ConfigError):
        KeyWindow(tokenizer, head=head, tail=tail, max_chars=max_chars)
    with pytest.raises(ConfigError):
        KeyWindow.of_size(tokenizer, 1)


def test_settings_set_the_window() -> None:
    assert GuardSettings.from_env({}).key_tokens == DEFAULT_KEY_TOKENS == 64
    assert GuardSettings.from_env({"ECHOSAFE_KEY_TOKENS": "0"}).key_tokens == 0
    assert GuardSettings.from_env({"ECHOSAFE_KEY_TOKENS": "128"}).key_tokens == 128
    for bad in ("1", "-3", "many"):
        with pytest.raises(ConfigError):
            GuardSettings.from_env({"ECHOSAFE_KEY_TOKENS": bad})


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_keys_of_long_texts_follow_the_window(backend: str) -> None:
    if backend == "onnx":
        pytest.importorskip("onnxruntime")
    env = {"ECHOSAFE_TEXT_MODEL": MINILM_MODEL, "ECHOSAFE_TEXT_BACKEND": backend}
    windowed = GuardSettings.from_env(env).text_embedder()
    whole = GuardSettings.from_env(env | {"ECHOSAFE_KEY_TOKENS": "0"}).text_embedder()
    long_a = "Some context. " + LOG * 10 + ASK
    long_b = "Some context. " + LOG + LOG.replace("WARN", "INFO") * 8 + LOG + ASK
    a, b, _ = windowed.embed([long_a, long_b, ASK])
    assert float(np.dot(a, b)) > 0.999  # only the middle differs
    wa, wb, w_ask = whole.embed([long_a, long_b, ASK])
    assert float(np.abs(w_ask - windowed.embed([ASK])[0]).max()) < 1e-5  # short: same key
    assert float(np.dot(wa, wb)) < float(np.dot(a, b))
    # Without the window, the encoder's own truncation keeps the log and drops the ask.
    assert float(np.dot(a, w_ask)) > float(np.dot(wa, w_ask))
