"""LiteLLM integration: a guarded ``completion`` for the SDK, a proxy guardrail and a local model.

* :func:`guarded_completion` / :func:`aguarded_completion`: ``litellm.completion`` with a guard;
* :class:`EchoSafeGuardrail`: a LiteLLM proxy ``CustomGuardrail`` (see ``config.yaml`` here);
* the ``local/<name>`` provider (llama.cpp, the ``[local]`` extra): importing this package
  registers it, so ``litellm.completion(model="local/qwen2.5-coder-1.5b", ...)`` works offline
  (:func:`register_local_provider` does it explicitly; no model is loaded before a call).
"""

from .local_provider import register_local_provider
from .sdk import GuardedStream, aguarded_completion, guarded_completion

__all__ = [
    "EchoSafeGuardrail",
    "GuardedStream",
    "aguarded_completion",
    "guarded_completion",
    "register_local_provider",
]

register_local_provider()


def __getattr__(name: str) -> object:
    # The guardrail imports the LiteLLM proxy types: load them only when asked for.
    if name == "EchoSafeGuardrail":
        from .guardrail import EchoSafeGuardrail

        return EchoSafeGuardrail
    raise AttributeError(name)
