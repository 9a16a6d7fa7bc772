"""LangChain integration (the ``[langchain]`` extra): the guard as LangChain components.

* :class:`EchoSafeRunnable`: ``prompt | EchoSafeRunnable(guard=guard) | model`` rewrites the
  model's input with the guard's block;
* :func:`guarded`: a chat model behind the guard that learns from its answers, with real
  ``invoke`` / ``ainvoke`` / ``batch`` / ``abatch`` / ``stream`` / ``astream``;
* :class:`EchoSafeMiddleware`: agent middleware for ``langchain.agents.create_agent``;
* :func:`to_turns` / :func:`apply_prepared`: LangChain messages ⇄ the guard's turns.

See ``docs/langchain.md``.
"""

from echosafe_guard.exceptions import MissingExtraError

try:
    import langchain_core  # noqa: F401
    from langchain.agents.middleware import AgentMiddleware  # noqa: F401
except ImportError as exc:
    raise MissingExtraError(
        "echosafe_guard.integrations.langchain needs LangChain: "
        "pip install 'echosafe-guard[langchain]'"
    ) from exc

from .guarded import GuardedChatModel, guarded
from .messages import apply_prepared, to_turns
from .middleware import EchoSafeMiddleware
from .runnable import EchoSafeRunnable

__all__ = [
    "EchoSafeMiddleware",
    "EchoSafeRunnable",
    "GuardedChatModel",
    "apply_prepared",
    "guarded",
    "to_turns",
]
