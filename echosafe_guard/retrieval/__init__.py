"""Retrieval: one request's insights from the store, re-ranked, and the decision on them.

``retriever`` (search, ``on_store_error``, re-rank), ``rerank`` (the :class:`Reranker` Protocol),
``intent_rerank`` (the memory's own unsafe-vs-safe axis) and ``decide`` (``Action``,
``Decision``). It reads the store, never writes it, and never blocks the event loop.
"""

__all__: list[str] = []
