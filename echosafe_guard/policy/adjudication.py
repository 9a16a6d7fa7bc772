"""The adjudicator's policy: a chat model's second opinion on weak unsafe evidence."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, model_validator

from echosafe_guard.policy.strict_model import StrictModel

__all__ = ["AdjudicatorPolicy", "AdjudicatorQuestion"]

_HARMFUL_FIRST = (
    'Request: "{request}"\n\nIs the person asking for help to cause harm, deceive, or break the '
    "law (A), or for a legitimate purpose such as staying safe, protecting others, preventing or "
    "reporting harm, learning, or everyday use (B)? Answer with one letter."
)
_BENIGN_FIRST = (
    'Request: "{request}"\n\nIs the person asking for help for a legitimate purpose such as '
    "staying safe, protecting others, preventing or reporting harm, learning, or everyday use "
    "(A), or to cause harm, deceive, or break the law (B)? Answer with one letter."
)


class AdjudicatorQuestion(StrictModel):
    """One multiple-choice question about the request. ``text`` has a ``{request}`` field;
    ``harmful`` and ``benign`` are the two answer letters (single tokens, e.g. ``A``/``B``)."""

    text: Annotated[str, Field(min_length=1)]
    harmful: Annotated[str, Field(pattern=r"^[A-Z]$")]
    benign: Annotated[str, Field(pattern=r"^[A-Z]$")]

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.harmful == self.benign:
            raise ValueError("harmful and benign must be different letters")
        if "{request}" not in self.text:
            raise ValueError("text must contain the {request} field")
        return self


class AdjudicatorPolicy(StrictModel):
    """Weak unsafe evidence (``unsafe_evidence`` short of ``block_confidence`` and of a
    near-duplicate) is put to a chat model as ``questions``: its log-odds of the harmful letter
    over the benign one (one answer token, ``top_logprobs``), summed over the questions. Below
    ``protective_below`` the weak call is read as unsure (the block states no verdict). With
    ``harmful_above`` set, unsure calls with unsafe insights are read too (at or above it: weak
    unsafe); with ``benign_below`` set, unsure calls on the safe edge (below it: safe). Off while
    ``model`` is None. The model must return log-probabilities
    (``logprobs``)."""

    model: str | None = None
    """A LiteLLM model name (e.g. the guarded model itself); None: no adjudication."""
    protective_below: Annotated[float, Field(allow_inf_nan=False)] = -0.65
    """Demote a weak unsafe call when the summed log-odds (harmful over benign) is below this.
    The default was chosen for Qwen2.5-Coder-1.5B on seen twin sets (docs/discrimination.md,
    "A second opinion from the guarded model"); another model needs its own value."""
    harmful_above: Annotated[float, Field(allow_inf_nan=False)] | None = None
    """Also put unsure calls with unsafe insights retrieved to the model, and read one as weak
    unsafe evidence (``caution``, the unsafe block) when the summed log-odds reach this. None:
    unsure calls are not adjudicated (each read costs about as much as a short answer)."""
    benign_below: Annotated[float, Field(allow_inf_nan=False)] | None = -0.4
    """Also put unsure calls with ``p_unsafe`` at or below ``benign_edge`` (the safe edge of the
    unsure zone) to the model, and read one as a safe call (``allow``/``safe_evidence``: the
    safe note) when the summed log-odds are below this. None: off. The default was chosen for
    Qwen2.5-Coder-1.5B on seen sets (docs/discrimination.md, "The safe note on a benign
    reading"); another model needs its own value."""
    benign_edge: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.45
    """The highest ``p_unsafe`` read for ``benign_below`` (0.45: the safe edge measured in
    docs/discrimination.md, "The safe edge of the unsure zone")."""
    system: Annotated[str, Field(min_length=1)] = "You are a content safety classifier."
    questions: Annotated[tuple[AdjudicatorQuestion, ...], Field(min_length=1, max_length=4)] = (
        AdjudicatorQuestion(text=_HARMFUL_FIRST, harmful="A", benign="B"),
        AdjudicatorQuestion(text=_BENIGN_FIRST, harmful="B", benign="A"),
    )
    """Ask each letter order once (the harmful letter first, then second): a small model's
    preference for a letter then cancels out of the sum."""
    top_logprobs: Annotated[int, Field(ge=2, le=20)] = 10
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 15.0
    max_request_chars: Annotated[int, Field(ge=100)] = 2000
    """The request text put in a question is cut to this many characters."""
