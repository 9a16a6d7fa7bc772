"""``LLMReflector``: reflection through any LiteLLM model, strict JSON, one repair turn
(:func:`~echosafe_guard.llm_client.ask_json`)."""

from __future__ import annotations

from typing import Any

from echosafe_guard.exceptions import (
    ConfigError,
    ReflectionInvalidError,
    ReflectionUnavailableError,
)
from echosafe_guard.learning.exchange import Exchange, InsightDraft
from echosafe_guard.llm_client import (
    aask_json,
    ask_json,
    import_litellm,
    json_object,
    response_text,
)
from echosafe_guard.policy.models import Policy

__all__ = ["LLMReflector", "parse_draft", "response_text"]

_REPAIR = (
    "That was not a valid insight ({error}). Reply with only the corrected JSON object with the "
    "keys scenario, intent_signals, verdict, guidance, category, confidence."
)


def parse_draft(text: str, policy: Policy) -> InsightDraft:
    """Validate a reflection's text; raises ``ValueError`` naming what is wrong."""
    draft = InsightDraft.model_validate(json_object(text))
    category = policy.taxonomy.resolve(draft.category)
    if category is None:
        raise ValueError(
            f"category {draft.category!r} is not one of {sorted(policy.taxonomy.categories)}"
        )
    return draft.model_copy(update={"category": category})


class LLMReflector:
    """Asks a LiteLLM model to reflect on an exchange with the policy's reflection prompt.

    ``model`` overrides ``policy.reflection.model``; when both are None the model that served
    the request (``Exchange.model``) reflects. ``completion_kwargs`` go to ``litellm.completion``
    (api_base, api_key, ...).
    """

    def __init__(
        self, policy: Policy, *, model: str | None = None, **completion_kwargs: Any
    ) -> None:
        self.policy = policy
        self.model = model
        self.completion_kwargs = completion_kwargs

    def _model(self, exchange: Exchange) -> str:
        model = self.model or self.policy.reflection.model or exchange.model
        if not model:
            raise ConfigError(
                "no reflection model: set reflection.model in the policy, pass model= to "
                "LLMReflector, or pass model= to Guard.learn"
            )
        return model

    def _messages(self, exchange: Exchange) -> list[dict[str, str]]:
        r = self.policy.reflection
        user = r.exchange_template.format(
            request=exchange.request_text[: r.max_request_chars],
            n_images=exchange.n_images,
            response=exchange.response_text[: r.max_response_chars],
            categories=", ".join(sorted(self.policy.taxonomy.categories)),
        )
        return [{"role": "system", "content": r.prompt}, {"role": "user", "content": user}]

    def _kwargs(self, exchange: Exchange, messages: list[dict[str, str]]) -> dict[str, Any]:
        r = self.policy.reflection
        return {
            "model": self._model(exchange),
            "messages": messages,
            "timeout": r.timeout_s,
            "max_tokens": r.max_tokens,
            "temperature": 0,
            "num_retries": 0,  # retries and backoff are the learner's
            **self.completion_kwargs,
        }

    @staticmethod
    def _text(response: Any) -> str:
        try:
            content = response.choices[0].message.content
        except (AttributeError, IndexError, KeyError) as exc:
            raise ReflectionInvalidError(f"reflection response has no message: {exc}") from exc
        return content if isinstance(content, str) else ""

    def _call(self, kwargs: dict[str, Any]) -> str:
        litellm = import_litellm("reflection")
        try:
            return self._text(litellm.completion(**kwargs))
        except ReflectionInvalidError:
            raise
        except Exception as exc:  # LiteLLM maps provider errors to its own exception types
            raise ReflectionUnavailableError(
                f"reflection call failed: {type(exc).__name__}: {exc}"
            ) from exc

    async def _acall(self, kwargs: dict[str, Any]) -> str:
        litellm = import_litellm("reflection")
        try:
            return self._text(await litellm.acompletion(**kwargs))
        except ReflectionInvalidError:
            raise
        except Exception as exc:
            raise ReflectionUnavailableError(
                f"reflection call failed: {type(exc).__name__}: {exc}"
            ) from exc

    def reflect(self, exchange: Exchange) -> InsightDraft:
        return ask_json(
            lambda messages: self._call(self._kwargs(exchange, messages)),
            self._messages(exchange),
            lambda text: parse_draft(text, self.policy),
            repair=_REPAIR,
            invalid=ReflectionInvalidError,
            what="reflection",
        )

    async def areflect(self, exchange: Exchange) -> InsightDraft:
        return await aask_json(
            lambda messages: self._acall(self._kwargs(exchange, messages)),
            self._messages(exchange),
            lambda text: parse_draft(text, self.policy),
            repair=_REPAIR,
            invalid=ReflectionInvalidError,
            what="reflection",
        )
