"""The context key: ``text part ⊕ image part``, each L2-normalised, unit norm overall."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from PIL import Image

from echosafe_guard.context import RequestContext
from echosafe_guard.exceptions import EmbedderUnavailableError
from echosafe_guard.images import ImageInput, open_rgb
from echosafe_guard.key.base import Embedder, EmbedderState, EmbedderStatus, l2_normalize
from echosafe_guard.key.image_cache import ImageCache
from echosafe_guard.key.layout import KeyLayout
from echosafe_guard.key.open_clip_embedder import OpenClipEmbedder

__all__ = ["ContextKey", "ImagePart", "KeyBuilder"]


class ImagePart(StrEnum):
    """How the image part of a key was obtained."""

    NONE = "none"
    """The request has no usable image."""
    LIVE = "live"
    LOADING = "loading"
    """The image model is still loading: zero image part for now."""
    UNAVAILABLE = "unavailable"
    """The image model could not be loaded: zero image part."""
    DISABLED = "disabled"
    """The guard runs without an image model."""


@dataclass(frozen=True)
class ContextKey:
    vector: npt.NDArray[np.float32]
    layout: KeyLayout
    image_part: ImagePart
    text_ms: float = 0.0
    image_ms: float = 0.0
    notes: tuple[str, ...] = field(default=())
    text: str = ""
    """The context text the key's text part was built from (read by the verdict's text model)."""

    @property
    def is_zero(self) -> bool:
        return not bool(np.any(self.vector))


class KeyBuilder:
    """Computes context keys from a text embedder and an optional OpenCLIP image embedder.

    With ``wait_for_image_model=False`` (the guard's default) a request never waits for the image
    model to load: it is loaded on a background thread and requests meanwhile get a zero image
    part, reported in the key's notes.
    """

    def __init__(
        self,
        text: Embedder[str],
        image: OpenClipEmbedder | None = None,
        *,
        cache: ImageCache | None = None,
        wait_for_image_model: bool = False,
    ) -> None:
        self.text = text
        self.image = image
        self.cache = cache if cache is not None else ImageCache()
        self.wait_for_image_model = wait_for_image_model
        self._layout: KeyLayout | None = None

    def layout(self) -> KeyLayout:
        if self._layout is None:
            self._layout = KeyLayout(
                text_model=self.text.model_id,
                text_dim=self.text.dim,
                image_model=self.image.model_id if self.image is not None else "none",
                image_dim=self.image.dim if self.image is not None else 0,
            )
        return self._layout

    def statuses(self) -> list[EmbedderStatus]:
        out = [self.text.status()]
        if self.image is not None:
            out.append(self.image.status())
        return out

    def embed_text(self, text: str) -> npt.NDArray[np.float32]:
        """The text part alone (zeros for empty text)."""
        if not text.strip():
            return np.zeros(self.text.dim, dtype=np.float32)
        row: npt.NDArray[np.float32] = self.text.embed([text])[0]
        return row

    def _image_part(
        self, images: tuple[ImageInput, ...]
    ) -> tuple[npt.NDArray[np.float32], ImagePart, str]:
        assert self.image is not None
        dim = self.image.dim
        rows: list[npt.NDArray[np.float32] | None] = [self.cache.get(i.sha256) for i in images]
        missing = [i for i, r in zip(images, rows, strict=True) if r is None]
        if missing:
            if not self.image.ready() and not self.wait_for_image_model:
                self.image.start_loading()
                st = self.image.status()
                if st.state is EmbedderState.LOADING:
                    return (
                        np.zeros(dim, np.float32),
                        ImagePart.LOADING,
                        "image model loading: zero image part",
                    )
            try:
                decoded: list[Image.Image] = [open_rgb(i) for i in missing]
                fresh = self.image.embed(decoded)
            except EmbedderUnavailableError as exc:
                return (
                    np.zeros(dim, np.float32),
                    ImagePart.UNAVAILABLE,
                    f"image part unavailable: {exc}",
                )
            it = iter(fresh)
            for idx, row in enumerate(rows):
                if row is None:
                    new = next(it)
                    self.cache.put(images[idx].sha256, new)
                    rows[idx] = new
        mean = np.mean(np.stack([r for r in rows if r is not None]), axis=0)
        return l2_normalize(mean), ImagePart.LIVE, ""

    def key(self, context: RequestContext) -> ContextKey:
        t0 = time.perf_counter()
        text_part = self.embed_text(context.text)
        return self._assemble(context, text_part, (time.perf_counter() - t0) * 1000)

    def keys(self, contexts: Sequence[RequestContext]) -> list[ContextKey]:
        """Keys for many contexts, with one batched text forward (seeding, benchmarks)."""
        t0 = time.perf_counter()
        texts = [c.text for c in contexts if c.text.strip()]
        zero = np.zeros(self.text.dim, dtype=np.float32)
        rows = iter(self.text.embed(texts)) if texts else iter(())
        parts: list[npt.NDArray[np.float32]] = [
            next(rows) if c.text.strip() else zero for c in contexts
        ]
        each_ms = (time.perf_counter() - t0) * 1000 / max(len(contexts), 1)
        return [self._assemble(c, p, each_ms) for c, p in zip(contexts, parts, strict=True)]

    def _assemble(
        self, context: RequestContext, text_part: npt.NDArray[np.float32], text_ms: float
    ) -> ContextKey:
        layout = self.layout()
        t1 = time.perf_counter()
        notes: list[str] = []
        images = context.images
        if self.image is None:
            image_part = np.zeros(0, np.float32)
            how = ImagePart.DISABLED if images else ImagePart.NONE
            if images:
                notes.append("image model disabled: images do not enter the key")
        elif not images:
            image_part, how = np.zeros(layout.image_dim, np.float32), ImagePart.NONE
        else:
            image_part, how, note = self._image_part(images)
            if note:
                notes.append(note)
        t2 = time.perf_counter()
        vec = l2_normalize(np.concatenate([text_part, image_part]))
        return ContextKey(
            vector=vec,
            layout=layout,
            image_part=how,
            text_ms=text_ms,
            image_ms=(t2 - t1) * 1000,
            notes=tuple(notes),
            text=context.text,
        )
