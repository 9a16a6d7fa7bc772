"""The ``TextVerdict`` Protocol: a reading of the request's own wording, fused with the probe.

The verdict model's probe reads the request's key (an embedding: mostly topic). A
``TextVerdict`` reads the words themselves and returns ``logit(unsafe)``;
:func:`fuse_logits` mixes the two on the log-odds scale with the policy's
``retrieval.verdict.text_weight`` before the band, the order and the decision read it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["TextVerdict", "fuse_logits"]


@runtime_checkable
class TextVerdict(Protocol):
    """Thread-safe; cheap on the request path (no model call, no network). ``logit`` returns
    None when the text gives it nothing to read; a model that cannot be loaded raises an
    :class:`~echosafe_guard.exceptions.EchoSafeError` (the caller falls back to the probe)."""

    def logit(self, text: str) -> float | None: ...


def fuse_logits(probe_logit: float, text_logit: float | None, weight: float) -> float:
    """``(1 - weight) · probe + weight · text`` (the probe alone when ``text_logit`` is None)."""
    if text_logit is None or weight <= 0.0:
        return probe_logit
    return (1.0 - weight) * probe_logit + weight * text_logit
