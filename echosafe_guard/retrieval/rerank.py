"""Re-ranking of the store's hits before the guard keeps its top ``k``.

The store returns ``retrieval.candidates`` hits by cosine similarity of the context keys; a
:class:`Reranker` reorders them and keeps ``k``. Twins (an unsafe request and its safe twin made
by a minimal intent-flipping edit) are close in any embedding space, so plain cosine order often
puts the wrong twin's insight first; see :mod:`echosafe_guard.retrieval.intent_rerank`.

A reranker only reorders and cuts: the hits keep their cosine ``score`` (``min_similarity`` and
``block_threshold`` keep their meaning) and a failing reranker never fails a request
(:func:`rerank_hits` falls back to the store's order).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from echosafe_guard.memory.base import InsightStore, Vector
from echosafe_guard.memory.insight import ScoredInsight
from echosafe_guard.policy.models import RerankMethod, RetrievalPolicy

__all__ = ["Reranker", "build_reranker", "rerank_hits"]

log = logging.getLogger("echosafe_guard.rerank")


@runtime_checkable
class Reranker(Protocol):
    """Reorders one request's candidate hits (best first) and keeps at most ``k``.

    ``vector`` is the request's context key; ``hits`` come best first by cosine similarity.
    Implementations must be thread-safe and cheap: they run on the request path (also on the
    event loop, in ``aprepare``), so they never do I/O there."""

    def rerank(
        self, vector: Vector, hits: Sequence[ScoredInsight], *, tenant: str, k: int
    ) -> list[ScoredInsight]: ...


def build_reranker(policy: RetrievalPolicy, store: InsightStore) -> Reranker | None:
    """The reranker the retrieval policy asks for (None for ``rerank: none``, and for ``probe``,
    whose verdict model orders the candidates itself)."""
    if policy.rerank is not RerankMethod.INTENT:
        return None
    from echosafe_guard.retrieval.intent_rerank import IntentRerank

    return IntentRerank(store, policy.intent)


def rerank_hits(
    reranker: Reranker | None,
    vector: Vector,
    hits: Sequence[ScoredInsight],
    *,
    tenant: str,
    k: int,
) -> list[ScoredInsight]:
    """``reranker``'s top ``k`` of ``hits``; the store's top ``k`` without a reranker, for fewer
    than two hits, or when the reranker fails (logged: a reranker never breaks a request)."""
    if reranker is None or len(hits) < 2:
        return list(hits[:k])
    try:
        out = reranker.rerank(vector, hits, tenant=tenant, k=k)
    except Exception:
        log.warning(
            "reranker %s failed: keeping the store's order", type(reranker).__name__, exc_info=True
        )
        return list(hits[:k])
    return list(out[:k])
