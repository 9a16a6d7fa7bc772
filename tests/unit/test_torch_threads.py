"""``torch_threads``: read from the environment, applied when a model loads, CLI default 1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from echosafe_guard.cli.common import CLI_TORCH_THREADS, build_guard
from echosafe_guard.exceptions import ConfigError
from echosafe_guard.key.sentence_transformer_embedder import SentenceTransformerEmbedder
from echosafe_guard.key.torch_threads import apply_torch_threads
from echosafe_guard.settings import GuardSettings


@pytest.fixture
def restore_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_settings_read_the_variable_and_validate_it() -> None:
    assert GuardSettings.from_env({}).torch_threads is None
    assert GuardSettings.from_env({"ECHOSAFE_TORCH_THREADS": "3"}).torch_threads == 3
    for bad in ("0", "many", "-2"):
        with pytest.raises(ConfigError):
            GuardSettings.from_env({"ECHOSAFE_TORCH_THREADS": bad})


def test_apply_sets_torch_and_none_leaves_it(restore_threads: None) -> None:
    torch.set_num_threads(2)
    apply_torch_threads(None)
    assert torch.get_num_threads() == 2
    apply_torch_threads(1)
    assert torch.get_num_threads() == 1
    with pytest.raises(ConfigError):
        apply_torch_threads(0)


def test_the_text_model_applies_it_when_it_loads(restore_threads: None) -> None:
    torch.set_num_threads(2)
    emb = SentenceTransformerEmbedder(torch_threads=1)
    assert torch.get_num_threads() == 2  # the constructor loads nothing
    emb.embed(["hello"])
    assert torch.get_num_threads() == 1


def test_cli_guards_default_to_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECHOSAFE_TORCH_THREADS", raising=False)
    guard = build_guard(store=None, policy=None, no_images=True)
    text = getattr(guard.keys.text, "inner", guard.keys.text)  # under the MicroBatcher
    assert text._torch_threads == CLI_TORCH_THREADS
    monkeypatch.setenv("ECHOSAFE_TORCH_THREADS", "2")
    guard = build_guard(store=None, policy=None, no_images=True)
    text = getattr(guard.keys.text, "inner", guard.keys.text)
    assert text._torch_threads == 2
