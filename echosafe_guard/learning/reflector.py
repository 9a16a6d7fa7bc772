"""The ``Reflector`` Protocol: distil an abstract safety insight from one exchange."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from echosafe_guard.learning.exchange import Exchange, InsightDraft

__all__ = ["Reflector"]


@runtime_checkable
class Reflector(Protocol):
    """Turns an exchange into an :class:`InsightDraft`.

    Raises :class:`~echosafe_guard.exceptions.ReflectionUnavailableError` for failures worth
    retrying (model errors, timeouts) and
    :class:`~echosafe_guard.exceptions.ReflectionInvalidError` for output that stays invalid.
    """

    def reflect(self, exchange: Exchange) -> InsightDraft: ...

    async def areflect(self, exchange: Exchange) -> InsightDraft: ...
