"""``/metrics`` for the guard's Prometheus metrics inside the LiteLLM proxy.

By default the proxy app itself serves ``/metrics`` (prometheus-client's default registry, where
the guard's metrics live; LiteLLM's own ``prometheus`` callback, when enabled, mounts the same
registry, so both show). LiteLLM's middleware asks for the master key or a virtual key there
unless ``litellm_settings.require_auth_for_metrics_endpoint: false``. With
``ECHOSAFE_METRICS_PORT`` (``echosafe-guard serve --metrics-port``) a separate plain HTTP server
on ``127.0.0.1:<port>`` serves them instead.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

__all__ = ["METRICS_PORT_ENV", "mount_metrics"]

METRICS_PORT_ENV = "ECHOSAFE_METRICS_PORT"
log = logging.getLogger("echosafe_guard.integrations.litellm")
_done: set[str] = set()
_lock = threading.Lock()


def _has_route(app: Any, path: str) -> bool:
    return any(getattr(r, "path", None) in (path, path + "/") for r in app.router.routes)


def mount_metrics(app: Any | None = None) -> str | None:
    """Serve the metrics once per process; returns where (``"port:N"``, ``"/metrics"``, or None
    when the proxy app is not importable or already serves ``/metrics``)."""
    with _lock:
        port = os.environ.get(METRICS_PORT_ENV)
        if port:
            if "port" not in _done:
                from prometheus_client import start_http_server

                start_http_server(int(port), addr="127.0.0.1")
                _done.add("port")
            return f"port:{port}"
        if app is None:
            try:
                from litellm.proxy.proxy_server import app as proxy_app
            except Exception:  # not inside the proxy (the SDK)
                return None
            app = proxy_app
        if "mount" in _done or _has_route(app, "/metrics"):
            return None
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        async def metrics(_request: Request) -> Response:
            return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

        # exactly /metrics (a mount would answer 307 to /metrics/), ahead of any catch-all
        app.router.routes.insert(0, Route("/metrics", metrics, methods=["GET"]))
        _done.add("mount")
        log.info("echosafe metrics on /metrics")
        return "/metrics"
