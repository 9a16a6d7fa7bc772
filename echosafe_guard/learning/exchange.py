"""What the learning loop works on: one exchange, and the insight a reflection drafts from it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Annotated

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator

from echosafe_guard.context import RequestContext
from echosafe_guard.memory.insight import Verdict

__all__ = ["Exchange", "InsightDraft", "hash_actor"]


def hash_actor(kind: str, value: str) -> str:
    """A stable pseudonymous id for a user or a session (never stored in clear)."""
    return f"{kind}:" + hashlib.sha256(f"{kind}\0{value}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Exchange:
    """A request and the model's answer, queued for reflection (held in memory only)."""

    tenant: str
    request_text: str
    n_images: int
    response_text: str
    key: npt.NDArray[np.float32] = field(repr=False)
    layout: str
    request_hash: str
    actor: str | None
    """Hashed user id (or session id without a user id); the poisoning quorum counts these."""
    model: str | None = None
    """The model that served the request (the reflection default)."""
    bucket: str | None = None
    """Hashed rate-limit bucket of an anonymous exchange (e.g. its API key); never a supporter."""

    @property
    def rate_key(self) -> str:
        """Whom the per-user rate limit counts: the actor, else the anonymous bucket (one for
        every anonymous exchange without a bucket): anonymity never skips the limit."""
        return self.actor or self.bucket or "anonymous"

    @classmethod
    def of(
        cls,
        *,
        tenant: str,
        context: RequestContext,
        key: npt.NDArray[np.float32],
        layout: str,
        request_hash: str,
        response: str,
        user: str | None,
        session: str | None,
        model: str | None,
        bucket: str | None = None,
    ) -> Exchange:
        """An exchange from a prepared request; ``user`` (else ``session``) is hashed."""
        if user:
            actor: str | None = hash_actor("user", user)
        else:
            actor = hash_actor("session", session) if session else None
        return cls(
            tenant=tenant,
            request_text=context.text,
            n_images=len(context.images) + len(context.skipped_images),
            response_text=response,
            key=key,
            layout=layout,
            request_hash=request_hash,
            actor=actor,
            model=model,
            bucket=hash_actor("bucket", bucket) if bucket else None,
        )


class InsightDraft(BaseModel):
    """The strict JSON a reflection must return."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scenario: Annotated[str, Field(min_length=8, max_length=400)]
    intent_signals: Annotated[
        list[Annotated[str, Field(min_length=2, max_length=120)]], Field(min_length=1, max_length=5)
    ]
    verdict: Verdict
    guidance: Annotated[str, Field(min_length=8, max_length=500)]
    category: Annotated[str, Field(min_length=1, max_length=64)]
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]

    @field_validator("scenario", "guidance")
    @classmethod
    def _strip(cls, v: str) -> str:
        return " ".join(v.split())
