"""``LocalRuntime``: one llama.cpp model per GGUF file per process, one generation at a time.

Every call into llama.cpp runs on the runtime's single worker thread, which is also the queue:
requests wait their turn in arrival order, the model loads lazily on that thread at first use
(so loading is thread-safe by construction), and an ``async`` caller only awaits a future (the
event loop never runs model code).

The ``Llama`` object and its KV cache are kept between calls: llama.cpp compares the new
prompt with the tokens already in the cache and evaluates only what follows the common head
(an unchanged system prompt is not evaluated again). A RAM cache of earlier sequences' states
(``ECHOSAFE_LOCAL_PREFIX_CACHE_MB``, default 512; 0: off) keeps that head across interleaved
prompt shapes: a request with the guard's block after one without it (and back) loads the state
of the last sequence that shares its head instead of evaluating the block's static preamble
again (benchmarks/local_serve.py). :class:`Generation` reports how many prompt tokens were
reused.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from echosafe_guard.exceptions import LocalModelError, LocalModelUnavailableError

__all__ = ["Generation", "LocalRuntime", "StreamEvent", "load_llama_module"]

DEFAULT_N_CTX = 4096
DEFAULT_PREFIX_CACHE_MB = 512
"""Room for ~14 states of the bundled 1.5B model (each ~37 MB: its KV cells and logits)."""
_EXTRA = "pip install 'echosafe-guard[local]'"


def load_llama_module() -> Any:
    """The ``llama_cpp`` module, or one clear error naming the ``[local]`` extra."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise LocalModelUnavailableError(
            f"local models need llama-cpp-python: {_EXTRA} (see the README for the CPU build "
            f"flags); import failed: {exc}"
        ) from exc
    return llama_cpp


def _env_int(name: str, default: int | None) -> int | None:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise LocalModelUnavailableError(f"{name} must be an integer, got {value!r}") from exc


def _prefix_cache(llama_cpp: Any, capacity_bytes: int) -> Any:
    """llama-cpp-python's ``LlamaRAMCache``, bounded by what its states really hold: it counts
    only the KV bytes (~1.7 MB for a short prompt of the 1.5B model), not the logits copied
    with each state (~35 MB), so its own bound lets RAM grow ~20x past the setting."""

    class PrefixCache(llama_cpp.LlamaRAMCache):  # type: ignore[misc]
        @property
        def cache_size(self) -> int:
            return sum(
                int(s.llama_state_size) + int(s.scores.nbytes) + int(s.input_ids.nbytes)
                for s in self.cache_state.values()
            )

    return PrefixCache(capacity_bytes=capacity_bytes)


@dataclass
class Generation:
    """One finished generation, with what the runtime saw."""

    text: str = ""
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_tokens_cached: int = 0
    """Head of the prompt found in the KV cache, not evaluated again."""
    load_ms: float = 0.0
    """Time spent loading the model for this call (0 once loaded)."""
    queue_ms: float = 0.0
    generate_ms: float = 0.0
    first_token_ms: float | None = None
    """From the start of generation (after the queue) to the first text, i.e. prompt eval."""
    top_logprobs: tuple[tuple[str, float], ...] | None = field(default=None, repr=False)
    """The first answer token's most likely tokens and their log-probabilities, best first
    (asked for with ``top_logprobs`` and ``max_tokens=1``)."""

    def stats(self) -> dict[str, Any]:
        return {
            k: (round(v, 3) if isinstance(v, float) else v)
            for k, v in self.__dict__.items()
            if k != "top_logprobs"
        }


def first_token_top(llm: Any, prompt_tokens: int, k: int) -> tuple[tuple[str, float], ...]:
    """The ``k`` most likely first answer tokens after a one-token generation, from the logits
    llama.cpp holds for the last prompt position: generation stops before the sampled token is
    evaluated, so the context's last logits are the first answer token's. Raises
    ``LocalModelError`` when the context has moved past the prompt."""
    if llm.n_tokens != prompt_tokens:
        raise LocalModelError(
            "top_logprobs: the model state is not at the end of the prompt (use max_tokens=1)"
        )
    llama_cpp = load_llama_module()
    n_vocab = int(llm.n_vocab())
    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    logits = np.ctypeslib.as_array(ptr, shape=(n_vocab,)).astype(np.float64)
    shift = logits.max()
    logprobs = logits - (shift + np.log(np.exp(logits - shift).sum()))
    top = np.argsort(-logprobs)[:k]
    return tuple(
        (llm.detokenize([int(i)]).decode("utf-8", errors="replace"), float(logprobs[i]))
        for i in top
    )


@dataclass(frozen=True)
class StreamEvent:
    """A piece of a streamed generation: text, or the end (``done`` with the totals), or an
    error raised in the worker."""

    text: str = ""
    done: Generation | None = None
    error: BaseException | None = field(default=None, repr=False)


class LocalRuntime:
    """One model file, one ``Llama``, one worker thread. Build with :meth:`for_path`."""

    _instances: dict[Path, LocalRuntime] = {}  # noqa: RUF012 - the per-process registry
    _instances_lock = threading.Lock()

    def __init__(
        self, path_of: Callable[[], Path], *, n_ctx: int | None = None, key: str = "local"
    ) -> None:
        self._path_of = path_of
        self.n_ctx = n_ctx
        self.key = key
        self._llm: Any = None
        self.path: Path | None = None
        self.load_ms: float | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="echosafe-local")

    @classmethod
    def for_path(cls, key: Path, path_of: Callable[[], Path]) -> LocalRuntime:
        """The process-wide runtime of ``key`` (created, not loaded, on first ask)."""
        with cls._instances_lock:
            runtime = cls._instances.get(key)
            if runtime is None:
                runtime = cls._instances[key] = cls(path_of, key=str(key))
            return runtime

    # -- the worker ----------------------------------------------------------------------------

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run ``fn`` on the worker thread after every call queued before it."""
        return self._executor.submit(fn)

    def _model(self) -> tuple[Any, float]:
        """The loaded ``Llama`` (worker thread only) and the ms spent loading it now."""
        if self._llm is not None:
            return self._llm, 0.0
        llama_cpp = load_llama_module()
        t0 = time.perf_counter()
        path = self._path_of()
        n_ctx = self.n_ctx or _env_int("ECHOSAFE_LOCAL_N_CTX", DEFAULT_N_CTX)
        # Half the cores, like llama.cpp: on a shared machine more threads only spin and wait.
        threads = _env_int("ECHOSAFE_LOCAL_THREADS", max((os.cpu_count() or 1) // 2, 1))
        try:
            llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise LocalModelUnavailableError(f"llama.cpp could not load {path}: {exc}") from exc
        cache_mb = _env_int("ECHOSAFE_LOCAL_PREFIX_CACHE_MB", DEFAULT_PREFIX_CACHE_MB) or 0
        if cache_mb > 0 and hasattr(llama_cpp, "LlamaRAMCache") and hasattr(llm, "set_cache"):
            llm.set_cache(_prefix_cache(llama_cpp, cache_mb << 20))
        self._llm, self.path = llm, path
        self.load_ms = (time.perf_counter() - t0) * 1000
        return llm, self.load_ms

    def load(self) -> float:
        """Load the model now (blocking); the load time in ms."""
        self.submit(self._model).result()
        return self.load_ms or 0.0

    def tokenize(self, text: str) -> list[int]:
        """``text`` in the model's tokens (no BOS), on the worker thread."""

        def run() -> list[int]:
            llm, _ = self._model()
            return list(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

        result: list[int] = self.submit(run).result()
        return result

    # -- generation ----------------------------------------------------------------------------

    def _cached_prefix(self, before: list[list[int]], prompt_tokens: int) -> int:
        """How much of this prompt llama.cpp took from the cache: the longest head it shares
        with the tokens held before the call or with a state in the prefix cache."""
        now = list(self._llm.input_ids[:prompt_tokens])
        best = 0
        for held in before:
            same = 0
            for a, b in zip(held, now, strict=False):
                if a != b:
                    break
                same += 1
            best = max(best, same)
        # llama.cpp evaluates at least the last prompt token again to get fresh logits.
        return min(best, max(prompt_tokens - 1, 0))

    def _start(self, messages: list[dict[str, Any]], params: dict[str, Any], stream: bool) -> Any:
        llm, load_ms = self._model()
        states = getattr(getattr(llm, "cache", None), "cache_state", None) or {}
        before = [list(llm.input_ids[: llm.n_tokens]), *(list(key) for key in states)]
        out = llm.create_chat_completion(messages=messages, stream=stream, **params)
        return llm, load_ms, before, out

    def _generate(
        self,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        queued: float,
        top_logprobs: int | None = None,
    ) -> Generation:
        t0 = time.perf_counter()
        llm, load_ms, before, out = self._start(messages, params, stream=False)
        usage = out.get("usage") or {}
        choice = out["choices"][0]
        gen = Generation(
            text=choice["message"].get("content") or "",
            finish_reason=choice.get("finish_reason") or "stop",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            load_ms=load_ms,
            queue_ms=(t0 - queued) * 1000,
        )
        if top_logprobs:
            gen.top_logprobs = first_token_top(llm, gen.prompt_tokens, top_logprobs)
        gen.prompt_tokens_cached = self._cached_prefix(before, gen.prompt_tokens)
        gen.generate_ms = (time.perf_counter() - t0) * 1000 - load_ms
        return gen

    def complete(
        self,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        top_logprobs: int | None = None,
    ) -> Generation:
        """Generate (blocking) after the calls queued before this one; with ``top_logprobs``
        (only with ``max_tokens=1``) also the first token's most likely tokens."""
        queued = time.perf_counter()
        result: Generation = self.submit(
            lambda: self._generate(messages, params, queued, top_logprobs)
        ).result()
        return result

    def acomplete(
        self,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        top_logprobs: int | None = None,
    ) -> Future[Any]:
        """As :meth:`complete`; a future to wrap with ``asyncio.wrap_future``."""
        queued = time.perf_counter()
        return self.submit(lambda: self._generate(messages, params, queued, top_logprobs))

    def _stream(
        self,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        emit: Callable[[StreamEvent], None],
        cancelled: threading.Event,
        queued: float,
    ) -> None:
        t0 = time.perf_counter()
        try:
            llm, load_ms, before, chunks = self._start(messages, params, stream=True)
            gen = Generation(load_ms=load_ms, queue_ms=(t0 - queued) * 1000)
            for chunk in chunks:
                if cancelled.is_set():
                    chunks.close()
                    gen.finish_reason = "cancelled"
                    break
                choice = chunk["choices"][0]
                text = (choice.get("delta") or {}).get("content") or ""
                if text:
                    if gen.first_token_ms is None:
                        gen.first_token_ms = (time.perf_counter() - t0) * 1000 - load_ms
                    gen.text += text
                    emit(StreamEvent(text=text))
                if choice.get("finish_reason"):
                    gen.finish_reason = choice["finish_reason"]
            # Streams carry no usage: the context now holds the prompt and every generated
            # token but the last one when generation stopped at max_tokens.
            gen.completion_tokens = len(llm.tokenize(gen.text.encode("utf-8"), add_bos=False))
            unevaluated = 1 if gen.finish_reason == "length" else 0
            gen.prompt_tokens = max(llm.n_tokens - gen.completion_tokens + unevaluated, 0)
            gen.prompt_tokens_cached = self._cached_prefix(before, gen.prompt_tokens)
            gen.generate_ms = (time.perf_counter() - t0) * 1000 - load_ms
            emit(StreamEvent(done=gen))
        except Exception as exc:  # handed to the consumer, raised there
            emit(StreamEvent(error=exc))

    def stream(
        self,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        emit: Callable[[StreamEvent], None],
        cancelled: threading.Event,
    ) -> Future[Any]:
        """Queue a streamed generation; ``emit`` gets every event on the worker thread. Set
        ``cancelled`` to stop it between two tokens."""
        queued = time.perf_counter()
        return self.submit(lambda: self._stream(messages, params, emit, cancelled, queued))

    def iter_stream(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> Iterator[StreamEvent]:
        """A blocking iterator over :meth:`stream`; closing it early cancels the generation."""
        import queue

        events: queue.SimpleQueue[StreamEvent] = queue.SimpleQueue()
        cancelled = threading.Event()
        self.stream(messages, params, events.put, cancelled)
        try:
            while True:
                event = events.get()
                if event.error is not None:
                    raise event.error
                yield event
                if event.done is not None:
                    return
        finally:
            cancelled.set()
