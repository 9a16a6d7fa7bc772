"""The guard's decision as a LlamaIndex instrumentation event.

Every guarded query or chat emits one :class:`EchoSafeDecisionEvent` through
``llama_index.core.instrumentation``; a handler added to the root dispatcher (or to this
module's dispatcher) receives it with the decision (``Prepared.summary()``)."""

from __future__ import annotations

from typing import Any

import llama_index.core.instrumentation as instrument
from llama_index.core.bridge.pydantic import Field
from llama_index.core.instrumentation.events import BaseEvent

from echosafe_guard.prepared import Prepared

__all__ = ["EchoSafeDecisionEvent", "dispatcher", "emit"]

dispatcher = instrument.get_dispatcher(__name__)  # type: ignore[attr-defined]


class EchoSafeDecisionEvent(BaseEvent):
    """One guard decision. ``source``: ``postprocessor`` or ``chat``; ``decision``: the
    serialised decision (``Prepared.summary()``, with the insights' texts); ``dropped``: the ids
    of retrieved nodes the postprocessor removed."""

    source: str
    decision: dict[str, Any]
    dropped: list[str] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "EchoSafeDecisionEvent"


def emit(prep: Prepared, source: str, dropped: list[str] | None = None) -> None:
    dispatcher.event(
        EchoSafeDecisionEvent(source=source, decision=prep.summary(), dropped=dropped or [])
    )
