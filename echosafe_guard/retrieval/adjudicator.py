"""The ``Adjudicator`` Protocol: a second opinion on weak unsafe evidence, and how it is applied.

The verdict model reads the request's topic well and its intent less well: a safe request that
names a harm in order to prevent, report or counter it lands near the harm's unsafe insights and
gets a weak unsafe call (``unsafe_evidence`` short of ``block_confidence`` and of a
near-duplicate). On that tier only, the guard may ask an adjudicator, for example the guarded
chat model itself, how harmful the request reads; a protective reading turns the weak call into
``unsure`` (the block then states no verdict). Confident calls, near-duplicates, safe and unsure
calls are never put to it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Protocol, runtime_checkable

from echosafe_guard.exceptions import AdjudicatorError
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


def needs_adjudication(decision: Decision) -> bool:
    """True for a weak unsafe call: ``caution`` on unsafe evidence that is not confident."""
    return (
        decision.action is Action.CAUTION
        and decision.reason == "unsafe_evidence"
        and decision.call is Call.UNSAFE
        and not decision.confident
    )


def second_opinion(decision: Decision, logodds: float, protective_below: float) -> Decision:
    """``decision`` with the adjudicator's reading applied: below ``protective_below`` a weak
    unsafe call becomes ``allow``/``uncertain`` with call ``unsure`` (as :func:`decide` gives
    for an unsure call); otherwise it stands. A note records the reading either way."""
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
        log.warning("adjudicator failed (the weak unsafe call stands): %s", reading)
        note = f"adjudicator failed: {reading}"
        return dataclasses.replace(decision, notes=(*decision.notes, note)), ms
    return second_opinion(decision, reading, policy.adjudicator.protective_below), ms


def adjudicate(
    decision: Decision, judge: Adjudicator | None, text: str, policy: Policy
) -> tuple[Decision, float]:
    """``decision`` after the adjudicator's reading of ``text`` (only a weak unsafe call is put
    to it), and the ms it took. A failing adjudicator (any exception) is logged and the weak
    call stands: the request is never lost to it."""
    if judge is None or not needs_adjudication(decision):
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
    if judge is None or not needs_adjudication(decision):
        return decision, 0.0
    t0 = time.perf_counter()
    try:
        reading: float | AdjudicatorError = await judge.aharm_logodds(text)
    except Exception as exc:
        reading = _failure(exc)
    return _applied(decision, reading, t0, policy)
