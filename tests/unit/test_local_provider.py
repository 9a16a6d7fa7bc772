"""The ``local/<name>`` LiteLLM provider without the real model: GGUF assembly from part
packages, message conversion, the one-worker runtime and LiteLLM's call paths (a fake
``llama_cpp`` module stands in for llama.cpp; the real model is in tests/integration)."""

from __future__ import annotations

import asyncio
import hashlib
import sys
import threading
import time
import types
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from echosafe_guard.integrations.litellm import local_gguf, local_provider
from echosafe_guard.integrations.litellm.local_gguf import BuiltinModel, LocalGGUF
from echosafe_guard.integrations.litellm.local_provider import (
    IMAGE_PLACEHOLDER,
    METADATA_KEY,
    register_local_provider,
    text_only_messages,
)
from echosafe_guard.integrations.litellm.local_runtime import LocalRuntime, first_token_top

from echosafe_guard.exceptions import (
    LocalModelError,
    LocalModelUnavailableError,
    MessageFormatError,
    ModelChecksumError,
)
from echosafe_guard.llm_client import import_litellm

# -- GGUF assembly ------------------------------------------------------------------------------


def make_parts(root: Path, blobs: list[bytes], prefix: str) -> BuiltinModel:
    """Importable packages ``<prefix>{i}`` with ``data/partNN.bin``, like the PyPI parts."""
    for i, blob in enumerate(blobs, start=1):
        pkg = root / f"{prefix}{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(blob)
    whole = b"".join(blobs)
    return BuiltinModel(
        name="tiny",
        filename="tiny.gguf",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        parts=len(blobs),
        module=prefix + "{i}",
        context_length=128,
    )


@pytest.fixture
def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BuiltinModel:
    prefix = f"fakepart_{time.time_ns()}_"
    model = make_parts(tmp_path / "site", [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5], prefix)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setitem(local_gguf.BUILTIN_MODELS, "tiny", model)
    monkeypatch.setenv("ECHOSAFE_CACHE_DIR", str(tmp_path / "cache"))
    return model


def test_constructor_does_no_io(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHOSAFE_CACHE_DIR", str(tmp_path / "nowhere"))
    LocalGGUF("qwen2.5-coder-1.5b")
    LocalGGUF("/does/not/exist.gguf")
    assert not (tmp_path / "nowhere").exists()


def test_assembles_once_verified_and_atomic(parts: BuiltinModel, tmp_path: Path) -> None:
    path = LocalGGUF("tiny").path()
    assert path == tmp_path / "cache" / "models" / "tiny.gguf"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == parts.sha256
    assert sorted(p.name for p in path.parent.iterdir() if not p.name.endswith(".lock")) == [
        "tiny.gguf",
        "tiny.gguf.sha256",
    ]
    mtime = path.stat().st_mtime_ns
    assert LocalGGUF("tiny").path() == path
    assert path.stat().st_mtime_ns == mtime  # not assembled twice


def test_concurrent_assembly_gives_one_good_file(parts: BuiltinModel) -> None:
    results: list[Path | BaseException] = []

    def run() -> None:
        try:
            results.append(LocalGGUF("tiny").path())
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({str(r) for r in results}) == 1
    path = results[0]
    assert isinstance(path, Path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == parts.sha256


def test_bad_checksum_is_typed_and_leaves_nothing(
    parts: BuiltinModel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(
        local_gguf.BUILTIN_MODELS, "tiny", BuiltinModel(**{**parts.__dict__, "sha256": "0" * 64})
    )
    with pytest.raises(ModelChecksumError, match="sha256"):
        LocalGGUF("tiny").path()
    left = [p.name for p in (tmp_path / "cache" / "models").iterdir()]
    assert not [n for n in left if n.endswith((".gguf", ".tmp", ".sha256"))]


def test_missing_part_names_the_extra(parts: BuiltinModel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        local_gguf.BUILTIN_MODELS, "tiny", BuiltinModel(**{**parts.__dict__, "parts": 4})
    )
    with pytest.raises(LocalModelUnavailableError, match=r"echosafe-guard\[local\]"):
        LocalGGUF("tiny").path()


def test_unknown_name_and_missing_file() -> None:
    with pytest.raises(LocalModelUnavailableError, match=r"local/qwen2\.5-coder-1\.5b"):
        LocalGGUF("gpt-5")
    with pytest.raises(LocalModelUnavailableError, match="not found"):
        LocalGGUF("/no/such/model.gguf").path()


# -- messages -----------------------------------------------------------------------------------


def test_images_are_replaced_visibly_and_counted() -> None:
    msgs, images, others = text_only_messages(
        [
            {"role": "system", "content": "Be safe."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "input_audio", "input_audio": {}},
                ],
            },
            {"role": "assistant", "content": None},
        ]
    )
    assert (images, others) == (1, 1)
    assert msgs[1]["content"].splitlines() == [
        "What is in this picture?",
        IMAGE_PLACEHOLDER,
        "[input_audio omitted: this model reads text only]",
    ]
    assert msgs[2] == {"role": "assistant", "content": ""}
    with pytest.raises(MessageFormatError):
        text_only_messages([{"content": "no role"}])


# -- the runtime and LiteLLM, with a fake llama.cpp -----------------------------------------------


class FakeLlama:
    """Echoes the last user message word by word; records its calls and the calling thread."""

    instances: list[FakeLlama] = []  # noqa: RUF012

    def __init__(self, model_path: str, **kwargs: Any) -> None:
        self.model_path = model_path
        self.kwargs = kwargs
        self.calls: list[dict[str, Any]] = []
        self.threads: set[str] = set()
        self.active = 0
        self.max_active = 0
        self._ids: list[int] = []
        FakeLlama.instances.append(self)

    @property
    def n_tokens(self) -> int:
        return len(self._ids)

    @property
    def input_ids(self) -> list[int]:
        return self._ids

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return [len(w) for w in text.split()]

    def _words(self, messages: list[dict[str, Any]], max_tokens: int | None) -> list[str]:
        words = str(messages[-1]["content"]).split()
        return words[: max_tokens or len(words)]

    def create_chat_completion(
        self, messages: list[dict[str, Any]], stream: bool, **kw: Any
    ) -> Any:
        self.calls.append({"messages": messages, **kw})
        self.threads.add(threading.current_thread().name)
        prompt = [len(str(m["content"])) for m in messages]
        words = self._words(messages, kw.get("max_tokens"))
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        time.sleep(0.02)
        self.active -= 1
        self._ids = prompt + [len(w) for w in words]
        reason = "length" if kw.get("max_tokens") else "stop"
        if not stream:
            return {
                "choices": [{"message": {"content": " ".join(words)}, "finish_reason": reason}],
                "usage": {"prompt_tokens": len(prompt), "completion_tokens": len(words)},
            }

        def chunks() -> Iterator[dict[str, Any]]:
            for i, w in enumerate(words):
                yield {"choices": [{"delta": {"content": (" " if i else "") + w}}]}
            yield {"choices": [{"delta": {}, "finish_reason": reason}]}

        return chunks()


@pytest.fixture
def fake_llama(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, type[FakeLlama]]]:
    module = types.ModuleType("llama_cpp")
    module.Llama = FakeLlama  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "llama_cpp", module)
    gguf = tmp_path / f"m{time.time_ns()}.gguf"
    gguf.write_bytes(b"GGUF")
    FakeLlama.instances.clear()
    register_local_provider()
    yield f"local/{gguf}", FakeLlama


def test_missing_llama_cpp_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    gguf = tmp_path / "x.gguf"
    gguf.write_bytes(b"GGUF")
    runtime = LocalRuntime(lambda: gguf)
    with pytest.raises(LocalModelUnavailableError, match=r"echosafe-guard\[local\]"):
        runtime.load()


def test_completion_through_litellm(fake_llama: tuple[str, type[FakeLlama]]) -> None:
    model, fake = fake_llama
    litellm = import_litellm()
    resp = litellm.completion(
        model=model,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "one two three four"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}},
                ],
            },
        ],
        max_tokens=3,
        temperature=0,
        stop=["\n\n"],
        seed=7,
    )
    assert resp.choices[0].message.content == "one two three"
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage.completion_tokens == 3
    meta = resp.choices[0].message.provider_specific_fields[METADATA_KEY]
    assert meta["images_omitted"] == 1 and meta["text_only"] is True
    (llm,) = fake.instances
    call = llm.calls[0]
    assert {k: call[k] for k in ("max_tokens", "temperature", "stop", "seed")} == {
        "max_tokens": 3,
        "temperature": 0,
        "stop": ["\n\n"],
        "seed": 7,
    }
    assert IMAGE_PLACEHOLDER in call["messages"][0]["content"]
    assert llm.threads == {"echosafe-local_0"}
    litellm.completion(model=model, messages=[{"role": "user", "content": "again"}])
    assert len(fake.instances) == 1  # loaded once per process


def test_streaming_sync_and_async(fake_llama: tuple[str, type[FakeLlama]]) -> None:
    model, _ = fake_llama
    litellm = import_litellm()
    msgs = [{"role": "user", "content": "alpha beta gamma"}]
    text = "".join(
        c.choices[0].delta.content or ""
        for c in litellm.completion(model=model, messages=msgs, stream=True)
    )
    assert text == "alpha beta gamma"

    async def run() -> str:
        out = []
        stream = await litellm.acompletion(model=model, messages=msgs, stream=True)
        async for c in stream:
            out.append(c.choices[0].delta.content or "")
        return "".join(out)

    assert asyncio.run(run()) == "alpha beta gamma"


def test_async_calls_queue_on_one_worker_off_the_loop(
    fake_llama: tuple[str, type[FakeLlama]],
) -> None:
    model, fake = fake_llama
    litellm = import_litellm()

    async def run() -> list[str]:
        calls = [
            litellm.acompletion(model=model, messages=[{"role": "user", "content": f"n{i}"}])
            for i in range(5)
        ]
        return [r.choices[0].message.content for r in await asyncio.gather(*calls)]

    assert asyncio.run(run()) == [f"n{i}" for i in range(5)]
    (llm,) = fake.instances
    assert llm.max_active == 1  # one generation at a time
    assert llm.threads == {"echosafe-local_0"}  # never on the event loop's thread


class LogitLlama(FakeLlama):
    """As llama.cpp after a one-token answer: the context stops at the prompt's end (the sampled
    token is never evaluated) and holds the logits for the first answer token."""

    VOCAB = ("A", "B", " C", "D")
    LOGITS = (2.0, 1.0, 0.0, -1.0)

    ctx = "ctx-pointer"

    def create_chat_completion(
        self, messages: list[dict[str, Any]], stream: bool, **kw: Any
    ) -> Any:
        out = super().create_chat_completion(messages, stream, **kw)
        self._ids = [len(str(m["content"])) for m in messages]  # the prompt only
        out["choices"][0]["message"]["content"] = "A"
        return out

    def n_vocab(self) -> int:
        return len(self.VOCAB)

    def detokenize(self, ids: list[int]) -> bytes:
        return "".join(self.VOCAB[i] for i in ids).encode()


@pytest.fixture
def logit_llama(fake_llama: tuple[str, type[FakeLlama]]) -> str:
    import ctypes

    module = sys.modules["llama_cpp"]
    module.Llama = LogitLlama  # type: ignore[attr-defined]
    buf = (ctypes.c_float * 4)(*LogitLlama.LOGITS)
    module.llama_get_logits_ith = lambda ctx, i: (  # type: ignore[attr-defined]
        buf if (ctx, i) == ("ctx-pointer", -1) else None
    )
    return fake_llama[0]


def test_logprobs_of_a_one_token_answer(logit_llama: str) -> None:
    litellm = import_litellm()
    msgs = [{"role": "user", "content": "A or B?"}]
    resp = litellm.completion(
        model=logit_llama, messages=msgs, max_tokens=1, logprobs=True, top_logprobs=3
    )
    lse = float(np.log(np.exp(np.array(LogitLlama.LOGITS)).sum()))
    first = resp.choices[0].logprobs["content"][0]
    tops = [(t["token"], t["logprob"]) for t in first["top_logprobs"]]
    assert [t for t, _ in tops] == ["A", "B", " C"]
    assert [lp for _, lp in tops] == pytest.approx([2.0 - lse, 1.0 - lse, 0.0 - lse])
    assert first["token"] == "A" and first["bytes"] == [65]
    meta = resp.choices[0].message.provider_specific_fields[METADATA_KEY]
    assert "top_logprobs" not in meta and "ignored_params" not in meta
    (llm,) = LogitLlama.instances
    assert "logprobs" not in llm.calls[0] and "top_logprobs" not in llm.calls[0]

    async def run() -> Any:
        return await litellm.acompletion(
            model=logit_llama, messages=msgs, max_tokens=1, logprobs=True, top_logprobs=2
        )

    assert len(asyncio.run(run()).choices[0].logprobs["content"][0]["top_logprobs"]) == 2
    # Longer answers: llama.cpp has moved past the prompt, so the params are ignored (named).
    longer = litellm.completion(model=logit_llama, messages=msgs, max_tokens=2, logprobs=True)
    assert getattr(longer.choices[0], "logprobs", None) is None
    ignored = longer.choices[0].message.provider_specific_fields[METADATA_KEY]["ignored_params"]
    assert "logprobs" in ignored


def test_first_token_logprobs_refuse_a_context_past_the_prompt() -> None:
    llm = LogitLlama("m")
    llm._ids = [1, 2, 3]
    with pytest.raises(LocalModelError, match="max_tokens=1"):
        first_token_top(llm, 2, 3)


def test_handler_is_named_in_a_proxy_config() -> None:
    assert local_provider.handler is local_provider.local_handler()
    litellm = import_litellm()
    assert any(p["provider"] == "local" for p in litellm.custom_provider_map)


class FakeState:
    def __init__(self, kv: int, logits: int) -> None:
        self.llama_state_size = kv
        self.scores = np.zeros(logits, dtype=np.uint8)
        self.input_ids = np.zeros(0, dtype=np.intc)


class FakeRAMCache:
    """llama-cpp-python's LlamaRAMCache as far as the runtime relies on it."""

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity_bytes = capacity_bytes
        self.cache_state: OrderedDict[tuple[int, ...], FakeState] = OrderedDict()

    @property
    def cache_size(self) -> int:  # counts the KV bytes only, as the real one does
        return sum(s.llama_state_size for s in self.cache_state.values())

    def __setitem__(self, key: tuple[int, ...], value: FakeState) -> None:
        self.cache_state[key] = value
        while self.cache_size > self.capacity_bytes and self.cache_state:
            self.cache_state.popitem(last=False)


class CachingLlama(FakeLlama):
    def set_cache(self, cache: FakeRAMCache) -> None:
        self.cache = cache


@pytest.mark.parametrize(
    ("setting", "capacity"), [(None, 512 << 20), ("64", 64 << 20), ("0", None)]
)
def test_prefix_cache_is_bounded_by_what_states_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str | None, capacity: int | None
) -> None:
    module = types.ModuleType("llama_cpp")
    module.Llama = CachingLlama  # type: ignore[attr-defined]
    module.LlamaRAMCache = FakeRAMCache  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "llama_cpp", module)
    if setting is None:
        monkeypatch.delenv("ECHOSAFE_LOCAL_PREFIX_CACHE_MB", raising=False)
    else:
        monkeypatch.setenv("ECHOSAFE_LOCAL_PREFIX_CACHE_MB", setting)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    runtime = LocalRuntime(lambda: gguf)
    runtime.load()
    cache = getattr(runtime._llm, "cache", None)
    if capacity is None:
        assert cache is None
        return
    assert isinstance(cache, FakeRAMCache) and cache.capacity_bytes == capacity
    for i in range(40):  # 40 states of 1 MB KV + 20 MB logits: the logits count too
        cache[(i,)] = FakeState(1 << 20, 20 << 20)
    assert 0 < cache.cache_size <= capacity
    assert len(cache.cache_state) == capacity // (21 << 20)
    # reuse is measured against every cached head, not only the tokens of the last call
    runtime.complete([{"role": "user", "content": "zzzzzzz"}], {"max_tokens": 1})
    cache[(4, 99)] = FakeState(1, 1)
    messages = [{"role": "system", "content": "xxxx"}, {"role": "user", "content": "a bb ccc"}]
    out = runtime.complete(messages, {"max_tokens": 2})
    assert out.prompt_tokens == 2 and out.prompt_tokens_cached == 1
