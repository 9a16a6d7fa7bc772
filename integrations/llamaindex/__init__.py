"""LlamaIndex integration (the ``[llamaindex]`` extra).

* :class:`EchoSafeNodePostprocessor`: the guard's insights as the top node of a query's
  context (``as_query_engine(node_postprocessors=[…])``, ``ContextChatEngine``);
* :func:`guarded_chat` and friends: ``ChatMessage`` lists with ``ImageBlock``s guarded for
  direct LLM calls and chat engines, learning from the reply;
* :class:`EchoSafeDecisionEvent`: the decision, emitted through
  ``llama_index.core.instrumentation``.

See ``docs/llamaindex.md``.
"""

from echosafe_guard.exceptions import MissingExtraError

try:
    import llama_index.core  # noqa: F401
except ImportError as exc:
    raise MissingExtraError(
        "echosafe_guard.integrations.llamaindex needs LlamaIndex: "
        "pip install 'echosafe-guard[llamaindex]'"
    ) from exc

from .chat import (
    GuardedMessages,
    aguard_messages,
    aguarded_chat,
    aguarded_stream_chat,
    guard_messages,
    guarded_chat,
    guarded_engine_chat,
    guarded_stream_chat,
)
from .events import EchoSafeDecisionEvent
from .messages import apply_prepared, query_turns, to_turns
from .postprocessor import EchoSafeNodePostprocessor

__all__ = [
    "EchoSafeDecisionEvent",
    "EchoSafeNodePostprocessor",
    "GuardedMessages",
    "aguard_messages",
    "aguarded_chat",
    "aguarded_stream_chat",
    "apply_prepared",
    "guard_messages",
    "guarded_chat",
    "guarded_engine_chat",
    "guarded_stream_chat",
    "query_turns",
    "to_turns",
]
