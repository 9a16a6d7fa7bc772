"""A bounded cache of the data URLs already accepted under a policy (see ``images.py``)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, Protocol, TypeVar

from echosafe_guard.policy.models import ImagePolicy

__all__ = ["AcceptedUrls"]


class _Sized(Protocol):
    @property
    def data(self) -> bytes: ...


_I = TypeVar("_I", bound=_Sized)


class AcceptedUrls(Generic[_I]):
    """Data URLs already accepted under a policy, bounded by their total size.

    Clients resend the same image with every turn of a conversation. A hit skips the base64
    decode, the hash and the header parse: a dict lookup (hash + compare of the URL string).
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, ImagePolicy], _I] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, url: str, policy: ImagePolicy) -> _I | None:
        with self._lock:
            hit = self._items.get((url, policy))
            if hit is not None:
                self._items.move_to_end((url, policy))
            return hit

    def put(self, url: str, policy: ImagePolicy, image: _I) -> None:
        cost = len(url) + len(image.data)
        if cost > self.max_bytes // 4:
            return
        with self._lock:
            if (url, policy) in self._items:
                return
            self._items[(url, policy)] = image
            self._size += cost
            while self._size > self.max_bytes:
                (old_url, _), old = self._items.popitem(last=False)
                self._size -= len(old_url) + len(old.data)
