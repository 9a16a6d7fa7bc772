"""Text part of the key on ONNX Runtime: the same sentence-transformers model, without torch.

The fp32 graph (exported once by :mod:`echosafe_guard.key.onnx_export`) gives the torch
embedder's vectors within 1e-4 (measured ~3e-7), so it keeps the torch key's ``model_id`` and
therefore its layout id: stores built with either backend are interchangeable. The ``int8``
variant (smoothed, then dynamically quantised: :mod:`echosafe_guard.key.onnx_smooth`) has its
own ``model_id`` (``<model>+onnx-int8-sq``) and layout; it is for benchmarks only, not a setting.
On mpnet it runs at ~0.27x torch's single-text time (fp32: ~0.56x) and matches fp32 on the
bundled twins (LOCO verdict@1 0.830 vs 0.827), but loses on held-out twins
(``discrimination.py --int8``: unsafe twins shown no unsafe insight on ``heldout4`` 0.117 ->
0.217, verdict@1 on ``heldout2``/``heldout3`` 0.758/0.683 -> 0.742/0.642). Its keys also
depend on their batch-mates (one activation scale per batch). The plain dynamic quantisation it
replaces gave mpnet keys unrelated to torch's (median cosine ~0).

Inference needs ``onnxruntime`` and ``tokenizers`` only; torch is imported once, to export. If
the fp32 export cannot be had (no ONNX-able folder, exporter error), the embedder falls back to
:class:`SentenceTransformerEmbedder` for the same model (same vectors, same layout) and says so
in its status.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from echosafe_guard.exceptions import ConfigError, EmbedderError, EmbedderUnavailableError
from echosafe_guard.key.base import EmbedderState, l2_normalize
from echosafe_guard.key.key_window import DEFAULT_KEY_TOKENS, KeyWindow
from echosafe_guard.key.lazy_embedder import LazyEmbedder
from echosafe_guard.key.onnx_export import OnnxVariant, check_pipeline, onnx_model_file
from echosafe_guard.key.sentence_transformer_embedder import (
    DEFAULT_TEXT_MODEL,
    SentenceTransformerEmbedder,
    known_text_dim,
    resolve_text_model,
)

__all__ = ["INT8_SUFFIX", "OnnxEmbedder"]

INT8_SUFFIX = "+onnx-int8-sq"
"""Model id suffix of the int8 keys (``-sq``: smoothed; the plain int8 keys were another layout)."""


class _Session:
    """A loaded tokenizer, key window and ONNX Runtime session (safe to share between threads)."""

    def __init__(self, tokenizer: Any, session: Any, dim: int, window: KeyWindow | None) -> None:
        self.tokenizer = tokenizer
        self.session = session
        self.dim = dim
        self.window = window


class OnnxEmbedder(LazyEmbedder[_Session | SentenceTransformerEmbedder]):
    """Embeds texts with ONNX Runtime; ``threads`` is the session's intra-op thread count;
    ``window``: tokens a key is computed from at most (:mod:`~echosafe_guard.key.key_window`;
    ``None``: up to the model's ``max_seq_length``, the text's beginning)."""

    def __init__(
        self,
        model: str = DEFAULT_TEXT_MODEL,
        *,
        variant: OnnxVariant = "fp32",
        threads: int = 1,
        max_chars: int = 8000,
        batch_size: int = 32,
        fallback: bool = True,
        torch_threads: int | None = None,
        cache_root: Path | None = None,
        window: int | None = DEFAULT_KEY_TOKENS,
    ) -> None:
        if variant not in ("fp32", "int8"):
            raise ConfigError(f"ONNX variant must be 'fp32' or 'int8', got {variant!r}")
        if not 1 <= threads <= 1024 or not 1 <= batch_size <= 4096:
            raise ConfigError("threads must be 1..1024 and batch_size 1..4096")
        if window is not None and window < 2:
            raise ConfigError(f"window must be at least 2 tokens or None, got {window}")
        self._window = window
        self._model_name = model
        self._variant: OnnxVariant = variant
        self._threads = threads
        self._max_chars = max_chars
        self._batch_size = batch_size
        self._fallback = fallback and variant == "fp32"  # int8 has no torch twin
        self._torch_threads = torch_threads
        self._cache_root = cache_root
        self._backend = "onnxruntime"
        self._fallback_reason = ""
        super().__init__(self._create, f"text model {self.model_id!r}", known_text_dim(model))

    @property
    def model_id(self) -> str:
        return self._model_name + (INT8_SUFFIX if self._variant == "int8" else "")

    @property
    def variant(self) -> OnnxVariant:
        return self._variant

    @property
    def backend(self) -> str:
        """``onnxruntime``, or ``torch`` after a fallback (known once loaded)."""
        return self._backend

    def _session(self) -> _Session:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbedderUnavailableError(
                "ONNX embedder needs onnxruntime and tokenizers"
            ) from exc
        path = Path(resolve_text_model(self._model_name))
        if not path.is_dir():
            raise EmbedderUnavailableError(f"{self._model_name!r} is not a local model folder")
        max_len = check_pipeline(path)
        graph = onnx_model_file(path, self._model_name, self._variant, self._cache_root)
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        pad = tokenizer.padding or {}
        tokenizer.enable_truncation(max_len)
        tokenizer.enable_padding(
            pad_id=int(pad.get("pad_id", 0)), pad_token=str(pad.get("pad_token", "[PAD]"))
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise EmbedderUnavailableError(f"{graph}: ONNX Runtime cannot load it: {exc}") from exc
        out = session.get_outputs()[0].shape[-1]
        if not isinstance(out, int):
            raise EmbedderUnavailableError(f"{graph}: output dimension {out!r} is not fixed")
        window = (
            KeyWindow.of_size(tokenizer, self._window, max_chars=self._max_chars)
            if self._window is not None
            else None
        )
        return _Session(tokenizer, session, out, window)

    def _create(self) -> _Session | SentenceTransformerEmbedder:
        try:
            loaded: _Session | SentenceTransformerEmbedder = self._session()
            dim = loaded.dim
        except EmbedderUnavailableError as exc:
            if not self._fallback:
                raise
            torch_emb = SentenceTransformerEmbedder(
                self._model_name, torch_threads=self._torch_threads, window=self._window
            )
            torch_emb.load()
            self._backend, self._fallback_reason = "torch", str(exc)
            loaded, dim = torch_emb, torch_emb.dim
        if self._dim is not None and dim != self._dim:
            raise EmbedderUnavailableError(
                f"text model {self.model_id!r} has dimension {dim}, expected {self._dim}"
            )
        self._dim = dim
        return loaded

    def _detail(self, state: EmbedderState) -> str:
        if state is EmbedderState.NOT_LOADED:
            return "loads on first use"
        if self._backend == "onnxruntime":
            return f"onnxruntime {self._variant}"
        return f"torch fallback: {self._fallback_reason}"

    def embed(self, items: Sequence[str]) -> npt.NDArray[np.float32]:
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        loaded = self._lazy.get()
        if isinstance(loaded, SentenceTransformerEmbedder):
            return loaded.embed(items)
        win = loaded.window
        texts = [win.apply(t) if win is not None else t[: self._max_chars] for t in items]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding per batch
        out = np.empty((len(texts), loaded.dim), dtype=np.float32)
        try:
            for start in range(0, len(order), self._batch_size):
                chunk = order[start : start + self._batch_size]
                enc = loaded.tokenizer.encode_batch([texts[i] for i in chunk])
                feeds = {
                    "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                }
                out[chunk] = loaded.session.run(None, feeds)[0]
        except Exception as exc:
            raise EmbedderError(f"text model {self.model_id!r} (ONNX) failed: {exc}") from exc
        return l2_normalize(out)
