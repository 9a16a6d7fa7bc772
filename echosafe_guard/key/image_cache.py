"""A bounded, thread-safe LRU cache of image embeddings keyed by content hash."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import numpy.typing as npt

__all__ = ["ImageCache"]


class ImageCache:
    """LRU map ``sha256 of the image bytes -> embedding row``. Stored rows are read-only."""

    def __init__(self, max_entries: int = 4096) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be >= 0")
        self.max_entries = max_entries
        self._data: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> npt.NDArray[np.float32] | None:
        with self._lock:
            row = self._data.get(key)
            if row is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return row

    def put(self, key: str, row: npt.NDArray[np.float32]) -> None:
        if self.max_entries == 0:
            return
        frozen = np.array(row, dtype=np.float32, copy=True)
        frozen.setflags(write=False)
        with self._lock:
            self._data[key] = frozen
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)
