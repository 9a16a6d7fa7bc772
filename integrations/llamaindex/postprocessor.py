"""``EchoSafeNodePostprocessor``: the guard as a LlamaIndex node postprocessor.

For each query it puts one node carrying the guard's block (the insights that apply to the
query) at the top of the retrieved context, keyed on the query text and its ``image_path``.
With ``drop_unsafe_duplicates`` it also removes retrieved nodes whose own text is a
near-duplicate (similarity ≥ ``duplicate_at``, default the policy's ``block_threshold``) of a
known-unsafe insight. A query blocked in ``enforce`` mode keeps only the guard's node (nothing
retrieved reaches the model), or raises
:class:`~echosafe_guard.exceptions.RequestBlockedError` with ``raise_on_block``. ``shadow``
leaves the nodes untouched. Each query emits an :class:`EchoSafeDecisionEvent`.

Works wherever LlamaIndex takes ``node_postprocessors``: ``index.as_query_engine(...)``,
``ContextChatEngine``, ``CondensePlusContextChatEngine``.
"""

from __future__ import annotations

import logging

from llama_index.core.bridge.pydantic import Field
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode

from echosafe_guard.context import Turn
from echosafe_guard.exceptions import RequestBlockedError, StoreError
from echosafe_guard.guard import Guard
from echosafe_guard.memory.insight import SearchFilter, Verdict
from echosafe_guard.policy.models import Mode, StoreErrorPolicy
from echosafe_guard.prepared import Prepared

from .events import emit
from .messages import query_turns

__all__ = ["EchoSafeNodePostprocessor"]

log = logging.getLogger("echosafe_guard.integrations.llamaindex")

_UNSAFE = SearchFilter(verdicts=frozenset({Verdict.UNSAFE}))


class EchoSafeNodePostprocessor(BaseNodePostprocessor):
    """``index.as_query_engine(node_postprocessors=[EchoSafeNodePostprocessor(guard=guard,
    tenant="acme")])`` (see the module docstring)."""

    guard: Guard = Field(exclude=True)
    tenant: str = "default"
    mode: Mode | None = None
    drop_unsafe_duplicates: bool = False
    duplicate_at: float | None = Field(default=None, ge=0.0, le=1.0)

    @classmethod
    def class_name(cls) -> str:
        return "EchoSafeNodePostprocessor"

    def _unsafe_duplicates(self, nodes: list[NodeWithScore]) -> set[int]:
        """Positions of the nodes whose text is a near-duplicate of a known-unsafe insight."""
        policy = self.guard.policy
        at = self.duplicate_at if self.duplicate_at is not None else policy.block_threshold
        cap = policy.context.max_text_chars
        texts = [n.node.get_content(metadata_mode=MetadataMode.NONE)[:cap] for n in nodes]
        contexts = [self.guard.context([Turn(text=t)]) for t in texts]
        try:
            store = self.guard.bound_store()
            out = set()
            for i, key in enumerate(self.guard.keys.keys(contexts)):
                if key.is_zero:
                    continue
                hits = store.search(
                    key.vector, tenant=self.tenant, k=1, min_score=at, filters=_UNSAFE
                )
                if hits:
                    out.add(i)
            return out
        except StoreError:
            if policy.on_store_error is StoreErrorPolicy.FAIL_CLOSED:
                raise
            log.warning("store unavailable: retrieved nodes kept unchecked", exc_info=True)
            return set()

    def _guard_node(self, prep: Prepared, nodes: list[NodeWithScore]) -> NodeWithScore:
        keys = ["echosafe_decision", "echosafe_insight_ids"]
        node = TextNode(
            text=prep.system_prompt or "",
            metadata={
                "echosafe_decision": prep.decision.action.value,
                "echosafe_insight_ids": ",".join(h.insight.id for h in prep.insights),
            },
            excluded_llm_metadata_keys=keys,
            excluded_embed_metadata_keys=keys,
        )
        scores = [n.score for n in nodes if n.score is not None]
        return NodeWithScore(node=node, score=max([1.0, *scores]))

    def _postprocess_nodes(
        self,
        nodes: list[NodeWithScore],
        query_bundle: QueryBundle | None = None,
    ) -> list[NodeWithScore]:
        if query_bundle is None:
            return nodes  # nothing to key on
        policy = self.guard.policy
        turns = query_turns(query_bundle, policy.images)
        prep = self.guard.prepare(turns, tenant=self.tenant, mode=self.mode)
        if not prep.decision.applied:
            emit(prep, "postprocessor")
            return nodes
        if prep.blocked:
            emit(prep, "postprocessor", [n.node.node_id for n in nodes])
            if policy.raise_on_block:
                raise RequestBlockedError(f"request blocked: {prep.decision.reason}", prep)
            return [self._guard_node(prep, nodes)]
        drop = self._unsafe_duplicates(nodes) if self.drop_unsafe_duplicates and nodes else set()
        kept = [n for i, n in enumerate(nodes) if i not in drop]
        emit(prep, "postprocessor", [nodes[i].node.node_id for i in sorted(drop)])
        if prep.system_prompt is None:
            return kept
        return [self._guard_node(prep, nodes), *kept]
