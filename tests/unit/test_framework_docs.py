"""The examples of docs/langchain.md and docs/llamaindex.md run as written.

Each document's ``python`` blocks run in order in one namespace, in a tmp directory (the
examples' ``./.echosafe`` store). The examples' ``Guard()`` gets the tests' bag-of-words text
key and no image model: seeding the builtin memory with a real sentence encoder costs a minute
on a shared CPU, and the examples exercise the adapters, not the encoder (tests/unit/test_key.py
and the local-model tests do).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]

from echosafe_guard.block import BEGIN
from echosafe_guard.key.key_builder import KeyBuilder
from echosafe_guard.settings import GuardSettings
from tests.conftest import FakeTextEmbedder

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCKS = re.compile(r"```python\n(.*?)```", re.S)


def run_doc(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        GuardSettings, "key_builder", lambda self, **_: KeyBuilder(FakeTextEmbedder(), None)
    )
    for var in ("ECHOSAFE_STORE", "ECHOSAFE_POLICY"):
        monkeypatch.delenv(var, raising=False)
    blocks = BLOCKS.findall((DOCS / name).read_text("utf-8"))
    assert len(blocks) >= 4
    root = get_dispatcher()
    handlers = list(root.event_handlers)
    namespace: dict[str, Any] = {"__name__": f"docs.{name}"}
    try:
        for block in blocks:
            exec(compile(block, str(DOCS / name), "exec"), namespace)
    finally:
        root.event_handlers = handlers
    return namespace


def test_langchain_doc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ns = run_doc("langchain.md", tmp_path, monkeypatch)
    assert ns["rewritten"][0].content.startswith("Be brief.\n\n" + BEGIN)
    assert ns["reply"].content == "I can't help with that."
    assert ns["answer"].response_metadata["echosafe"]["decision"] == "caution"
    assert len(ns["answers"]) == 2
    assert ns["chunks"] == ["One", " ", "two", " ", "three"]
    final = ns["state"]["messages"][-1]
    assert final.content == "I can't help with that."
    assert final.response_metadata["echosafe"]["decision"] == "caution"
    assert len(ns["turns"][0].images) == 1


def test_llamaindex_doc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = run_doc("llamaindex.md", tmp_path, monkeypatch)
    assert ns["response"].source_nodes[0].node.get_content().startswith(BEGIN)
    assert "You are a travel assistant." in ns["reply"].response and BEGIN in ns["reply"].response
    assert ns["answer"].additional_kwargs["echosafe"]["decision"] == "caution"
    assert "Be brief.\n\n" + BEGIN in (ns["answer"].message.content or "")
    assert BEGIN in ns["first"].response
    assert "postprocessor caution" in capsys.readouterr().out
