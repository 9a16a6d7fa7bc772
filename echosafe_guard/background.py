"""Background threads yield the CPU to requests: a lower scheduling priority per thread.

On Linux ``setpriority(PRIO_PROCESS, tid, n)`` renices one thread (its native id), not the
process: under CFS a thread at nice 10 gets about 1/10 of the CPU a nice-0 request thread gets
when both want it, and all of it when the request threads are idle. So learning (reflection,
admission, fits) never competes with requests for the cores, yet still runs on an idle host.
Elsewhere (or without permission) this is a no-op.
"""

from __future__ import annotations

import contextlib
import os
import threading

__all__ = ["BACKGROUND_NICE", "lower_thread_priority"]

BACKGROUND_NICE = 10
"""Added to the thread's nice value (``ECHOSAFE_BACKGROUND_NICE`` overrides; 0 turns it off)."""


def lower_thread_priority(nice: int | None = None) -> bool:
    """Renice the calling thread by ``nice``; True when it took effect."""
    step = (
        nice
        if nice is not None
        else int(os.environ.get("ECHOSAFE_BACKGROUND_NICE", "") or BACKGROUND_NICE)
    )
    if step <= 0 or not hasattr(os, "setpriority"):
        return False
    tid = threading.get_native_id()
    with contextlib.suppress(OSError, ValueError):
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + step))
        return True
    return False
