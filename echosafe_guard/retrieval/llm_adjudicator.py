"""``LlmAdjudicator``: a LiteLLM chat model's own reading of a request, from one answer token.

Each of the policy's questions asks the model, as a one-letter multiple choice, whether the
request seeks help to cause harm or has a legitimate purpose. The model answers one token with
``top_logprobs``; the question's score is ``logprob(harmful letter) - logprob(benign letter)``,
and the reading is the sum over the questions (one per letter order, so a small model's liking
for a letter cancels). Nothing is generated beyond that token, and the answer text is unused.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from echosafe_guard.exceptions import AdjudicatorError
from echosafe_guard.llm_client import import_litellm
from echosafe_guard.policy.adjudication import AdjudicatorPolicy, AdjudicatorQuestion

__all__ = ["LlmAdjudicator", "letter_logprobs"]

Completion = Callable[..., Any]
ACompletion = Callable[..., Awaitable[Any]]


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def letter_logprobs(response: Any, letters: tuple[str, str]) -> tuple[float, float]:
    """The log-probabilities of ``letters`` as the first answer token of a chat completion
    (OpenAI/LiteLLM ``logprobs``, object or dict form). Tokens match after stripping spaces.
    A letter missing from ``top_logprobs`` gets the lowest listed log-probability (an upper
    bound). Raises :class:`AdjudicatorError` when the response has no log-probabilities."""
    try:
        first = _get(_get(_get(response, "choices")[0], "logprobs"), "content")[0]
    except (AttributeError, IndexError, KeyError, TypeError) as exc:
        raise AdjudicatorError(
            "the adjudicating model returned no log-probabilities (it must support logprobs)"
        ) from exc
    tops = list(_get(first, "top_logprobs") or []) or [first]
    seen: dict[str, float] = {}
    for entry in tops:
        token, logprob = _get(entry, "token"), _get(entry, "logprob")
        if not isinstance(token, str) or not isinstance(logprob, int | float):
            continue
        key = token.strip()
        if math.isfinite(logprob) and key not in seen:
            seen[key] = float(logprob)
    if not seen:
        raise AdjudicatorError("the adjudicating model's log-probabilities list no token")
    floor = min(seen.values())
    a, b = letters
    return seen.get(a, floor), seen.get(b, floor)


class LlmAdjudicator:
    """An :class:`~echosafe_guard.retrieval.adjudicator.Adjudicator` over a LiteLLM model.

    ``completion``/``acompletion`` default to ``litellm.completion``/``acompletion`` (imported
    on the first call: the constructor does no I/O). Thread-safe: it keeps no state per call."""

    def __init__(
        self,
        policy: AdjudicatorPolicy,
        *,
        completion: Completion | None = None,
        acompletion: ACompletion | None = None,
    ) -> None:
        if policy.model is None:
            raise AdjudicatorError("adjudicator.model is not set")
        self.policy = policy
        self.model: str = policy.model
        self._completion = completion
        self._acompletion = acompletion

    def _messages(self, question: AdjudicatorQuestion, text: str) -> list[dict[str, str]]:
        request = text.strip()[: self.policy.max_request_chars]
        return [
            {"role": "system", "content": self.policy.system},
            {"role": "user", "content": question.text.format(request=request)},
        ]

    def _kwargs(self) -> dict[str, Any]:
        return {
            "max_tokens": 1,
            "temperature": 0,
            "logprobs": True,
            "top_logprobs": self.policy.top_logprobs,
            "timeout": self.policy.timeout_s,
        }

    @staticmethod
    def _score(question: AdjudicatorQuestion, response: Any) -> float:
        harmful, benign = letter_logprobs(response, (question.harmful, question.benign))
        return harmful - benign

    def harm_logodds(self, text: str) -> float:
        call = self._completion or import_litellm("the adjudicator").completion
        total = 0.0
        for q in self.policy.questions:
            try:
                messages = self._messages(q, text)
                response = call(model=self.model, messages=messages, **self._kwargs())
            except AdjudicatorError:
                raise
            except Exception as exc:  # LiteLLM maps provider errors to its own types
                raise AdjudicatorError(f"the adjudicating model failed: {exc}") from exc
            total += self._score(q, response)
        return total

    async def aharm_logodds(self, text: str) -> float:
        if self._acompletion is None and self._completion is not None:
            return await asyncio.to_thread(self.harm_logodds, text)
        call = self._acompletion or import_litellm("the adjudicator").acompletion
        total = 0.0
        for q in self.policy.questions:
            try:
                response = await call(
                    model=self.model, messages=self._messages(q, text), **self._kwargs()
                )
            except AdjudicatorError:
                raise
            except Exception as exc:
                raise AdjudicatorError(f"the adjudicating model failed: {exc}") from exc
            total += self._score(q, response)
        return total
