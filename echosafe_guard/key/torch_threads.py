"""Torch's intra-op thread count, set when an embedding model loads.

Torch defaults to one thread per core. A guard embeds one short request at a time, so the extra
threads buy little and, on a busy host (a proxy's event loop, the learning worker, the model
server), they contend for the cores: on a 2-core machine under load a MiniLM forward took
250-560 ms with 2 threads against 20-40 ms with 1. The setting is process-wide (a torch limit),
so the library leaves it alone unless asked (``ECHOSAFE_TORCH_THREADS`` / ``torch_threads``);
the CLI and ``serve`` default to 1.
"""

from __future__ import annotations

from echosafe_guard.exceptions import ConfigError

__all__ = ["apply_torch_threads"]


def apply_torch_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)``; ``None`` leaves torch's own setting."""
    if threads is None:
        return
    if not isinstance(threads, int) or not 1 <= threads <= 1024:
        raise ConfigError(f"torch_threads must be an integer 1..1024, got {threads!r}")
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
