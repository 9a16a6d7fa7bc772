"""Guard settings from arguments and environment variables, and the factories that use them.

==============================  =======================================================
environment variable            meaning (default)
==============================  =======================================================
``ECHOSAFE_STORE``              store path or URL (``./.echosafe``)
``ECHOSAFE_POLICY``             policy file or builtin policy name (``default``)
``ECHOSAFE_TEXT_MODEL``         sentence-transformers model id or directory (all-mpnet-base-v2)
``ECHOSAFE_IMAGES``             ``0`` runs without an image model (``1``)
``ECHOSAFE_IMAGE_MODEL``        open_clip model name (``ViT-B-32``)
``ECHOSAFE_IMAGE_PRETRAINED``   open_clip tag, weights file, or ``none`` (``laion2b_s34b_b79k``)
``ECHOSAFE_IMAGE_MODEL_CONFIG`` extra open_clip model-config JSON file to register
``ECHOSAFE_IMAGE_DOWNLOAD``     ``1``/``0``: allow weight downloads (on unless HF_HUB_OFFLINE)
``ECHOSAFE_TORCH_THREADS``      torch intra-op threads, process-wide (library: untouched; CLI: 1)
``ECHOSAFE_TEXT_BACKEND``       ``auto`` (ONNX Runtime if installed, else torch), ``torch``
                                or ``onnx`` (``auto``)
``ECHOSAFE_ONNX_THREADS``       ONNX Runtime intra-op threads of the text session (1)
``ECHOSAFE_EMBED_MAX_BATCH``    concurrent text embeddings coalesced per forward; 1: off (16)
``ECHOSAFE_EMBED_MAX_WAIT_MS``  how long a batch under load waits to fill (2)
``ECHOSAFE_KEY_TOKENS``         tokens a text key is computed from at most: the first quarter
                                and the last three quarters of a longer text; 0: the model's
                                own limit, from the beginning (64)
==============================  =======================================================
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from echosafe_guard.exceptions import ConfigError
from echosafe_guard.key.base import Embedder
from echosafe_guard.key.image_cache import ImageCache
from echosafe_guard.key.key_builder import KeyBuilder
from echosafe_guard.key.key_window import DEFAULT_KEY_TOKENS
from echosafe_guard.key.micro_batcher import MicroBatcher
from echosafe_guard.key.onnx_embedder import OnnxEmbedder
from echosafe_guard.key.open_clip_embedder import (
    DEFAULT_IMAGE_MODEL,
    DEFAULT_IMAGE_PRETRAINED,
    OpenClipEmbedder,
)
from echosafe_guard.key.sentence_transformer_embedder import (
    DEFAULT_TEXT_MODEL,
    SentenceTransformerEmbedder,
)
from echosafe_guard.memory.base import InsightStore
from echosafe_guard.memory.local.local_store import LocalStore

__all__ = ["DEFAULT_STORE", "GuardSettings", "TextBackend", "open_store"]

TextBackend = Literal["auto", "torch", "onnx"]

DEFAULT_STORE = "./.echosafe"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return None
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r}: expected 1/0, true/false, yes/no or on/off")


class GuardSettings(BaseModel):
    """Which store, policy and embedders a guard uses. ``from_env`` reads the variables above."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    store: str = DEFAULT_STORE
    policy: str | None = None
    text_model: str = DEFAULT_TEXT_MODEL
    images: bool = True
    image_model: str = DEFAULT_IMAGE_MODEL
    image_pretrained: str | None = DEFAULT_IMAGE_PRETRAINED
    image_model_config: str | None = None
    image_download: bool | None = None
    image_cache_size: int = 4096
    torch_threads: Annotated[int, Field(ge=1, le=1024)] | None = None
    """``torch.set_num_threads`` when a model loads (process-wide); None leaves torch alone."""
    text_backend: TextBackend = "auto"
    """``auto``: ONNX Runtime fp32 when ``onnxruntime`` is installed (same keys as torch within
    1e-4, same layout; ~2x faster), else torch. The int8 variant (~4x faster) is not offered:
    it loses twin discrimination on held-out twins (benchmarks/discrimination.py --int8)."""
    onnx_threads: Annotated[int, Field(ge=1, le=1024)] = 1
    embed_max_batch: Annotated[int, Field(ge=1, le=4096)] = 16
    """Concurrent requests' texts embedded in one forward (key/micro_batcher.py); 1: off."""
    embed_max_wait_ms: Annotated[float, Field(ge=0.0, le=1000.0)] = 2.0
    key_tokens: Annotated[int, Field(ge=0, le=100_000)] = DEFAULT_KEY_TOKENS
    """The text key's window (key/key_window.py): a longer text is keyed on its first quarter
    and last three quarters of this many tokens, so one key costs at most one forward of this
    length (mpnet, one thread: ~150 ms at 64 tokens, ~690 ms at the model's 384). 0: no window
    (the model keeps the text's first 384 tokens). Part of what a key means: a store's keys
    of longer texts were computed with the window of the process that wrote them."""

    @field_validator("key_tokens")
    @classmethod
    def _window(cls, value: int) -> int:
        if value == 1:
            raise ValueError("key_tokens must be 0 (no window) or at least 2")
        return value

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, /, **overrides: object
    ) -> GuardSettings:
        """Settings from the environment; ``None``-valued overrides are ignored."""
        e = os.environ if env is None else env
        data: dict[str, object] = {}
        for key, var in (
            ("store", "ECHOSAFE_STORE"),
            ("policy", "ECHOSAFE_POLICY"),
            ("text_model", "ECHOSAFE_TEXT_MODEL"),
            ("image_model", "ECHOSAFE_IMAGE_MODEL"),
            ("image_model_config", "ECHOSAFE_IMAGE_MODEL_CONFIG"),
            ("text_backend", "ECHOSAFE_TEXT_BACKEND"),
            ("onnx_threads", "ECHOSAFE_ONNX_THREADS"),
            ("embed_max_batch", "ECHOSAFE_EMBED_MAX_BATCH"),
            ("embed_max_wait_ms", "ECHOSAFE_EMBED_MAX_WAIT_MS"),
            ("key_tokens", "ECHOSAFE_KEY_TOKENS"),
        ):
            if e.get(var):
                data[key] = e[var]
        if e.get("ECHOSAFE_IMAGE_PRETRAINED"):
            raw = e["ECHOSAFE_IMAGE_PRETRAINED"]
            data["image_pretrained"] = None if raw.lower() == "none" else raw
        if e.get("ECHOSAFE_TORCH_THREADS"):
            data["torch_threads"] = e["ECHOSAFE_TORCH_THREADS"]
        if (images := _flag(e, "ECHOSAFE_IMAGES")) is not None:
            data["images"] = images
        if (download := _flag(e, "ECHOSAFE_IMAGE_DOWNLOAD")) is not None:
            data["image_download"] = download
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValueError as exc:
            raise ConfigError(f"invalid settings: {exc}") from exc

    def text_embedder(self) -> Embedder[str]:
        """The text embedder of :attr:`text_backend` (nothing is loaded yet)."""
        backend = self.text_backend
        if backend == "auto":
            backend = "onnx" if importlib.util.find_spec("onnxruntime") else "torch"
        window = self.key_tokens or None
        if backend == "torch":
            return SentenceTransformerEmbedder(
                self.text_model, torch_threads=self.torch_threads, window=window
            )
        return OnnxEmbedder(
            self.text_model,
            threads=self.onnx_threads,
            torch_threads=self.torch_threads,
            window=window,
        )

    def key_builder(self, *, wait_for_image_model: bool = False) -> KeyBuilder:
        """Embedders for these settings (nothing is loaded yet); concurrent text embeddings
        are micro-batched unless ``embed_max_batch`` is 1."""
        text = self.text_embedder()
        if self.embed_max_batch > 1:
            text = MicroBatcher(
                text, max_batch=self.embed_max_batch, max_wait_ms=self.embed_max_wait_ms
            )
        image = (
            OpenClipEmbedder(
                self.image_model,
                self.image_pretrained,
                model_config=self.image_model_config,
                download=self.image_download,
                torch_threads=self.torch_threads,
            )
            if self.images
            else None
        )
        return KeyBuilder(
            text,
            image,
            cache=ImageCache(self.image_cache_size),
            wait_for_image_model=wait_for_image_model,
        )

    def open_store(self) -> InsightStore:
        return open_store(self.store)


_REDIS_SCHEMES = ("redis", "rediss", "unix")


def open_store(location: str | os.PathLike[str]) -> InsightStore:
    """A store for a location. Does no I/O.

    * a directory path or ``file://`` URL: :class:`LocalStore`;
    * ``redis://host:port/db``, ``rediss://…`` (TLS) or ``unix://…``: :class:`RedisStore`.
      Query parameters ``prefix`` (key prefix), ``vector_type`` (``FLOAT32``/``FLOAT16``),
      ``durable`` (``1``: wait for the AOF fsync on every write) are read by the store.
    """
    text = os.fspath(location)
    scheme = urlsplit(text).scheme.lower() if "://" in text else ""
    if scheme in ("", "file"):
        path = urlsplit(text).path if scheme == "file" else text
        if not path:
            raise ConfigError(f"store {text!r}: empty path")
        return LocalStore(Path(path).expanduser())
    if scheme in _REDIS_SCHEMES:
        from echosafe_guard.memory.redis.redis_store import RedisStore

        return RedisStore.from_url(text)
    raise ConfigError(
        f"store {text!r}: unsupported scheme {scheme!r}; use a directory path, file://, "
        "redis://, rediss:// or unix://"
    )
