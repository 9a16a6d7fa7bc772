"""The ``Adjudicator`` Protocol: a second opinion on weak unsafe evidence, and how it is applied.

The verdict model reads the request's topic well and its intent less well: a safe request that
names a harm in order to prevent, report or counter it lands near the harm's unsafe insights and
gets a weak unsafe call (``unsafe_evidence`` short of ``block_confidence`` and of a
near-duplicate). On that tier, the guard may ask an adjudicator, for example the guarded
chat model itself, how harmful the request reads; a protective reading turns the weak call into
``unsure`` (the block then states no verdict). With ``adjudicator.harmful_above`` set, an unsure
call with unsafe insights retrieved is read too, and a harmful reading at or above it turns it
into a weak unsafe call (``caution``, the unsafe block). With ``adjudicator.benign_below`` set, an
unsure call on the safe edge (``p_unsafe <= benign_edge``) is read too, and a reading below it
turns it into a safe call (``allow``/``safe_evidence``, the safe note). Confident calls,
near-duplicates and safe calls are never put to it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Protocol, runtime_checkable

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


def _unsure(decision: Decision) -> bool:
    return (
        decision.action is Action.ALLOW
        and decision.reason == "uncertain"
        and decision.call is Call.UNSURE
    )


def _unsure_with_unsafe(decision: Decision) -> bool:
    return _unsure(decision) and decision.top_unsafe_score is not None


def _below_edge(decision: Decision, edge: float) -> bool:
    return decision.p_unsafe is not None and decision.p_unsafe <= edge


def _on_safe_edge(decision: Decision, edge: float) -> bool:
    return _unsure(decision) and _below_edge(decision, edge)


def needs_adjudication(decision: Decision, policy: AdjudicatorPolicy | None = None) -> bool:
    """True for a weak unsafe call (``caution`` on unsafe evidence that is not confident);
    when ``policy.harmful_above`` is set, for an unsure call with unsafe insights retrieved; when
    ``policy.benign_below`` is set, for an unsure call on the safe edge."""
    if _weak_unsafe(decision):
        return True
    if policy is None:
        return False
    harmful = policy.harmful_above is not None and _unsure_with_unsafe(decision)
    benign = policy.benign_below is not None and _on_safe_edge(decision, policy.benign_edge)
    return harmful or benign


def _noted(decision: Decision, note: str, **changes: Any) -> Decision:
    return dataclasses.replace(decision, notes=(*decision.notes, note), **changes)


def second_opinion(decision: Decision, logodds: float, policy: AdjudicatorPolicy) -> Decision:
    """``decision`` with the adjudicator's reading applied. A weak unsafe call below
    ``protective_below`` becomes ``allow``/``uncertain`` with call ``unsure`` (as :func:`decide`
    gives for an unsure call). An unsure call with unsafe insights at or above ``harmful_above``
    becomes ``caution``/``unsafe_evidence`` with call ``unsafe``, never confident (advise and
    enforce alike ask the model for the block message; nothing is blocked on it); an unsure call
    on the safe edge (``p_unsafe <= benign_edge``) below ``benign_below`` becomes
    ``allow``/``safe_evidence`` with call ``safe``. Otherwise the call stands. A note records
    the reading either way."""
    z = f"{logodds:+.2f}"
    if _unsure(decision):
        harmful_above, benign_below = policy.harmful_above, policy.benign_below
        with_unsafe = decision.top_unsafe_score is not None
        if with_unsafe and harmful_above is not None and logodds >= harmful_above:
            return _noted(
                decision,
                f"adjudicator: harmful reading ({z}), unsafe",
                action=Action.CAUTION,
                reason="unsafe_evidence",
                call=Call.UNSAFE,
                confident=False,
            )
        edge = _below_edge(decision, policy.benign_edge)
        if edge and benign_below is not None and logodds < benign_below:
            return _noted(
                decision,
                f"adjudicator: benign reading ({z}), safe",
                reason="safe_evidence",
                call=Call.SAFE,
            )
        return _noted(decision, f"adjudicator: reading ({z}), unsure stands")
    if logodds >= policy.protective_below:
        return _noted(decision, f"adjudicator: harmful reading ({z})")
    return _noted(
        decision,
        f"adjudicator: protective reading ({z}), unsure",
        action=Action.ALLOW,
        reason="uncertain",
        call=Call.UNSURE,
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
    return second_opinion(decision, reading, policy.adjudicator), ms


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
