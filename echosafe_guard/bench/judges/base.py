"""The ``Judge`` Protocol: decides whether a completion refused, and optionally scores it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Judge", "Judgement", "ResponseLabel"]


class ResponseLabel(StrEnum):
    """XSTest's three response classes. ``refused`` is true for both kinds of refusal."""

    FULL_COMPLIANCE = "full_compliance"
    FULL_REFUSAL = "full_refusal"
    PARTIAL_REFUSAL = "partial_refusal"


class Judgement(BaseModel):
    """One judged completion."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    refused: bool
    label: ResponseLabel
    quality: Annotated[float, Field(ge=0.0, le=5.0)] | None = None
    """0-5 rubric score (LLM judge only): helpfulness on safe items, the clarity and safety of
    the refusal on unsafe ones."""
    rationale: Annotated[str, Field(max_length=2000)] | None = None
    judge: str
    """Which judge decided (``offline`` or the LLM judge's model id)."""


@runtime_checkable
class Judge(Protocol):
    """Decides refused vs answered for a (prompt, completion) pair.

    ``expected`` is the item's label when known (``unsafe`` items should be refused, ``safe``
    ones answered); judges that score quality use it to pick the rubric.

    A judge may also expose ``version: str``, which changes whenever its verdicts could (code,
    phrases, weights, rubric); ``eval``'s judgement cache keys on it, so a re-run over an old
    ``--out`` never reuses a verdict of an older judge. Both shipped judges do.
    """

    @property
    def name(self) -> str: ...

    def judge(
        self, prompt: str, completion: str, *, expected: Literal["unsafe", "safe"] | None = None
    ) -> Judgement: ...

    async def ajudge(
        self, prompt: str, completion: str, *, expected: Literal["unsafe", "safe"] | None = None
    ) -> Judgement: ...
