"""LiteLLM integration: a guarded ``completion`` for the SDK and a proxy guardrail.

* :func:`guarded_completion` / :func:`aguarded_completion`: ``litellm.completion`` with a guard;
* :class:`EchoSafeGuardrail`: a LiteLLM proxy ``CustomGuardrail`` (see ``config.yaml`` here).
"""

from .sdk import GuardedStream, aguarded_completion, guarded_completion

__all__ = ["EchoSafeGuardrail", "GuardedStream", "aguarded_completion", "guarded_completion"]


def __getattr__(name: str) -> object:
    # The guardrail imports the LiteLLM proxy types: load them only when asked for.
    if name == "EchoSafeGuardrail":
        from .guardrail import EchoSafeGuardrail

        return EchoSafeGuardrail
    raise AttributeError(name)
