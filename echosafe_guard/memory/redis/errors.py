"""One mapping of Redis client errors onto the :class:`~echosafe_guard.exceptions.StoreError`
tree, used around every Redis call of ``RedisStore``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from echosafe_guard.exceptions import StoreError, StoreUnavailableError

__all__ = ["UNREACHABLE", "map_errors"]

UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
"""The client errors that mean the server cannot be reached (now)."""


@contextmanager
def map_errors(what: str, location: str) -> Iterator[None]:
    """Re-raise what the block raises as a store error (``raise … from exc``).

    A :class:`StoreError` passes unchanged; a connection error or timeout becomes
    :class:`StoreUnavailableError`; anything else a :class:`StoreError` naming ``what``.
    """
    try:
        yield
    except StoreError:
        raise
    except UNREACHABLE as exc:
        raise StoreUnavailableError(
            f"Redis at {location} unreachable during {what}: {exc}"
        ) from exc
    except Exception as exc:
        raise StoreError(f"Redis error during {what}: {exc}") from exc
