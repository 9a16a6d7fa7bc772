"""The request context: the neutral type every adapter hands in, and the request hash.

An adapter turns its framework's messages into :class:`Turn` objects (``input/openai.py`` does it
for OpenAI/LiteLLM dicts). :func:`build_context` keeps what the context key is computed from: the
last user turn and a bounded window of earlier user turns, so a harmful request split over several
turns is still seen as a whole. Images named by URL (:class:`ImageRef`) are decoded (or skipped,
for remote hosts not allow-listed) here, under the policy's image limits.

``key/``, ``learning/`` and ``memory/`` import this module; it imports none of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from echosafe_guard.arguments import check_text
from echosafe_guard.exceptions import ImageTooLargeError, InputTooLargeError, MessageFormatError
from echosafe_guard.images import ImageInput, SkippedImage, resolve_image_urls
from echosafe_guard.policy.models import ContextPolicy, ImagePolicy

__all__ = ["ImageRef", "RequestContext", "Turn", "build_context", "request_hash"]


def request_hash(text: str, image_hashes: tuple[str, ...] = ()) -> str:
    """A stable hash of a request's context. Stored instead of the raw user text."""
    h = hashlib.sha256(text.encode("utf-8"))
    for ih in image_hashes:
        h.update(b"\0img:" + ih.encode("ascii"))
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True)
class ImageRef:
    """An image named by URL (``data:``, or ``http(s)`` on an allow-listed host), decoded by the
    guard under the image policy. ``where`` names it in error messages (default: its turn)."""

    url: str
    where: str = ""


@dataclass(frozen=True)
class Turn:
    """One message of a conversation, framework-neutral. Only ``user`` turns feed the key."""

    text: str = ""
    images: tuple[ImageInput | ImageRef, ...] = ()
    role: str = "user"
    index: int | None = None
    """Position in the adapter's message list (error messages; default: position given)."""


@dataclass(frozen=True)
class RequestContext:
    """What the key is computed from: the last user turn and a window of earlier ones, their
    images decoded (images never fetched are listed in ``skipped_images``)."""

    turns: tuple[Turn, ...]
    skipped_images: tuple[SkippedImage, ...] = ()

    @property
    def text(self) -> str:
        return "\n".join(t.text for t in self.turns if t.text)

    @property
    def images(self) -> tuple[ImageInput, ...]:
        return tuple(img for t in self.turns for img in t.images if isinstance(img, ImageInput))

    @property
    def request_hash(self) -> str:
        return request_hash(self.text, tuple(i.sha256 for i in self.images))


def build_context(
    turns: Sequence[Turn],
    *,
    context: ContextPolicy,
    images: ImagePolicy,
    source: str = "turns",
    window: bool = True,
    skipped: Sequence[SkippedImage] = (),
) -> RequestContext:
    """The request context of ``turns`` (decoding the window's images).

    ``source`` names the list in error messages (``messages`` for OpenAI dicts). ``window=False``
    keeps every given user turn (a context built by the caller). Raises
    :class:`~echosafe_guard.exceptions.InputError` subclasses for bad or oversized input."""
    if len(turns) > context.max_messages:
        raise InputTooLargeError(
            f"{source}: {len(turns)} messages exceed context.max_messages={context.max_messages}"
        )
    for k, t in enumerate(turns):
        if not isinstance(t, Turn):
            raise MessageFormatError(f"{source}[{k}]: expected a Turn, got {type(t).__name__}")
    users = [
        t if t.index is not None else replace(t, index=k)
        for k, t in enumerate(turns)
        if t.role == "user"
    ]
    if not users:
        raise MessageFormatError(f"{source}: no user message to guard")
    if window:
        users = users[-(context.earlier_user_turns + 1) :]
    out: list[Turn] = []
    skips = list(skipped)
    n_images = 0
    n_chars = 0
    refs: list[tuple[str, str]] = []
    for t in users:
        where = f"{source}[{t.index}]"
        check_text(t.text, where)
        n_chars += len(t.text)
        if n_chars > context.max_text_chars:
            raise InputTooLargeError(
                f"{where}: request context text exceeds context.max_text_chars="
                f"{context.max_text_chars}"
            )
        for j, img in enumerate(t.images):
            iwhere = (img.where if isinstance(img, ImageRef) else "") or f"{where}.images[{j}]"
            n_images += 1
            if n_images > images.max_images:
                raise InputTooLargeError(
                    f"{iwhere}: more than images.max_images={images.max_images} images"
                )
            if isinstance(img, ImageRef):
                refs.append((img.url, iwhere))
    resolved = iter(resolve_image_urls(refs, policy=images))  # remote ones in parallel
    pixels = 0
    for t in users:
        decoded: list[ImageInput] = []
        for img in t.images:
            got = img if isinstance(img, ImageInput) else next(resolved)
            if isinstance(got, SkippedImage):
                skips.append(got)
                continue
            pixels += got.width * got.height
            if pixels > images.max_request_pixels:
                raise ImageTooLargeError(
                    f"{got.where}: the request's images declare over "
                    f"images.max_request_pixels={images.max_request_pixels} pixels together"
                )
            decoded.append(got)
        out.append(replace(t, images=tuple(decoded)))
    return RequestContext(turns=tuple(out), skipped_images=tuple(skips))
