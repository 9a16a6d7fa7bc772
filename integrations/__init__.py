"""Framework adapters, installed as ``echosafe_guard.integrations`` (never a top-level package).

Each adapter only translates its framework's message types into chat messages and back and calls
:meth:`echosafe_guard.Guard.prepare`; the core never imports a framework.
"""

__all__: list[str] = []
