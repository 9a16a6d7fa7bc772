"""``TenantLabels``: a bounded set of metric label values for tenants (cardinality control)."""

from __future__ import annotations

import threading

__all__ = ["OTHER", "TenantLabels"]

OTHER = "other"


class TenantLabels:
    """The first ``limit`` tenants seen keep their name as a label; every later one is
    ``other``. A Prometheus series cannot be renamed once scraped, so a tenant's label never
    changes: with tenants arriving by traffic, the busiest ones are in practice the first
    seen. Thread-safe; ``label`` is a dict lookup once a tenant is known."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()

    def label(self, tenant: str) -> str:
        got = self._known.get(tenant)
        if got is not None:
            return got
        with self._lock:
            got = self._known.get(tenant)
            if got is None:
                named = sum(1 for v in self._known.values() if v != OTHER)
                got = tenant if named < self.limit and tenant != OTHER else OTHER
                if len(self._known) < 100 * max(self.limit, 1):  # bound the memo too
                    self._known[tenant] = got
            return got

    def named(self) -> list[str]:
        """The tenants with their own label."""
        with self._lock:
            return sorted(t for t, v in self._known.items() if v != OTHER)
