"""The ``Adjudicator`` Protocol: a second opinion on weak unsafe evidence, and how it is applied.

The verdict model reads the request's topic well and its intent less well: a safe request that
names a harm in order to prevent, report or counter it lands near the harm's unsafe insights and
gets a weak unsafe call (``unsafe_evidence`` short of ``block_confidence`` and of a
near-duplicate). On that tier, the guard may ask an adjudicator, for example the guarded
chat model itself, how harmful the request reads; a protective reading turns the weak call into
``unsure`` (the block then states no verdict). With ``adjudicator.harmful_above`` set, an unsure
call with unsafe insights retrieved is read too, and a harmful reading at or above it turns it
into a weak unsafe call (``caution``, the unsafe block). Confident calls, near-duplicates and
safe calls are never put to it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Protocol, runtime_checkable

from echosafe_guard.exceptions import AdjudicatorError
from echosafe_guard.policy.adjudication import AdjudicatorPolicy
from echosafe_guard.policy.models import Policy
from echosafe_guard.retrieval.decide import Action, Decision
from echosafe_guard.retrieval.verdict_model import Call

__all__ = ["Adjudicator", "aadjudicate", "adjudicate", "needs_adjudication", "second_opinion"]

log = logging.getLogger("echosafe_guard")


@runtime_checkable
class Adjudicator(Protocol):
    """Reads a request's text as harmful or benign. Thread-safe; may call a model (I/O)."""

    def harm_logodds(self, text: str) -> float:
        """Log-odds that the request asks for help to cause harm (high) rather than for a
        legitimate purpose (low). Raises :class:`~echosafe_guard.exceptions.AdjudicatorError`."""
        ...

    async def aharm_logodds(self, text: str) -> float:
        """As :meth:`harm_logodds`, without blocking the event loop."""
        ...


def _weak_unsafe(decision: Decision) -> bool:
    return (
        decision.action is Action.CAUTION
        and decision.reason == "unsafe_evidence"
        and decision.call is Call.UNSAFE
        and not decision.confident
    )


def _unsure_with_unsafe(decision: Decision) -> bool:
    return (
        decision.action is Action.ALLOW
        and decision.reason == "uncertain"
        and decision.call is Call.UNSURE
        and decision.top_unsafe_score is not None
    )


def needs_adjudication(decision: Decision, policy: AdjudicatorPolicy | None = None) -> bool:
    """True for a weak unsafe call (``caution`` on unsafe evidence that is not confident), and,
    when ``policy.harmful_above`` is set, for an unsure call with unsafe insights retrieved."""
    if _weak_unsafe(decision):
        return True
    return policy is not None and policy.harmful_above is not None and _unsure_with_unsafe(decision)


def second_opinion(
    decision: Decision,
    logodds: float,
    protective_below: float,
    harmful_above: float | None = None,
) -> Decision:
    """``decision`` with the adjudicator's reading applied. A weak unsafe call below
    ``protective_below`` becomes ``allow``/``uncertain`` with call ``unsure`` (as :func:`decide`
    gives for an unsure call); an unsure call with unsafe insights at or above ``harmful_above``
    becomes ``caution``/``unsafe_evidence`` with call ``unsafe``, never confident (advise and
    enforce alike ask the model for the block message; nothing is blocked on it). Otherwise the
    call stands. A note records the reading either way."""
    if _unsure_with_unsafe(decision):
        if harmful_above is None or logodds < harmful_above:
            note = f"adjudicator: reading ({logodds:+.2f}), unsure stands"
            return dataclasses.replace(decision, notes=(*decision.notes, note))
        return dataclasses.replace(
            decision,
            action=Action.CAUTION,
            reason="unsafe_evidence",
            call=Call.UNSAFE,
            confident=False,
            notes=(*decision.notes, f"adjudicator: harmful reading ({logodds:+.2f}), unsafe"),
        )
    if logodds >= protective_below:
        return dataclasses.replace(
            decision, notes=(*decision.notes, f"adjudicator: harmful reading ({logodds:+.2f})")
        )
    return dataclasses.replace(
        decision,
        action=Action.ALLOW,
        reason="uncertain",
        call=Call.UNSURE,
        notes=(*decision.notes, f"adjudicator: protective reading ({logodds:+.2f}), unsure"),
    )


def _failure(exc: Exception) -> AdjudicatorError:
    if isinstance(exc, AdjudicatorError):
        return exc
    return AdjudicatorError(f"{type(exc).__name__}: {exc}")


def _applied(
    decision: Decision, reading: float | AdjudicatorError, t0: float, policy: Policy
) -> tuple[Decision, float]:
    ms = (time.perf_counter() - t0) * 1000
    if isinstance(reading, AdjudicatorError):
        log.warning("adjudicator failed (the call stands): %s", reading)
        note = f"adjudicator failed: {reading}"
        return dataclasses.replace(decision, notes=(*decision.notes, note)), ms
    cfg = policy.adjudicator
    return second_opinion(decision, reading, cfg.protective_below, cfg.harmful_above), ms


def adjudicate(
    decision: Decision, judge: Adjudicator | None, text: str, policy: Policy
) -> tuple[Decision, float]:
    """``decision`` after the adjudicator's reading of ``text`` (only the calls
    :func:`needs_adjudication` names are put to it), and the ms it took. A failing adjudicator
    (any exception) is logged and the call stands: the request is never lost to it."""
    if judge is None or not needs_adjudication(decision, policy.adjudicator):
        return decision, 0.0
    t0 = time.perf_counter()
    try:
        reading: float | AdjudicatorError = judge.harm_logodds(text)
    except Exception as exc:  # any adjudicator's failure: the request goes on
        reading = _failure(exc)
    return _applied(decision, reading, t0, policy)


async def aadjudicate(
    decision: Decision, judge: Adjudicator | None, text: str, policy: Policy
) -> tuple[Decision, float]:
    """As :func:`adjudicate`, awaiting the adjudicator (the event loop is never blocked)."""
    if judge is None or not needs_adjudication(decision, policy.adjudicator):
        return decision, 0.0
    t0 = time.perf_counter()
    try:
        reading: float | AdjudicatorError = await judge.aharm_logodds(text)
    except Exception as exc:
        reading = _failure(exc)
    return _applied(decision, reading, t0, policy)
