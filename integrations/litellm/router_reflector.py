"""``RouterReflector``: reflection behind the LiteLLM proxy, through the proxy's own router.

A proxy client asks for a model *alias* (``support-bot``, or ``default`` from ``echosafe-guard
serve --model X``); ``litellm.completion(model="support-bot")`` knows no such model. This
reflector looks the reflection model (``reflection.model`` of the policy, else the alias that
served the request) up in the proxy's router, ``litellm.proxy.proxy_server.llm_router``, and
calls its deployment with the deployment's own ``litellm_params`` (provider model id,
``api_base``, credentials), as the router itself would. A name the router does not know is
called as a plain LiteLLM model id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from echosafe_guard.learning.exchange import Exchange, InsightDraft
from echosafe_guard.learning.llm_reflector import LLMReflector
from echosafe_guard.policy.models import Policy

from .local_provider import is_local_model

__all__ = ["RouterReflector", "proxy_router", "resolve_alias"]


def proxy_router() -> Any:
    """The running proxy's router, or None outside a proxy."""
    try:
        from litellm.proxy import proxy_server
    except ImportError:  # pragma: no cover - the proxy extra is not installed
        return None
    return getattr(proxy_server, "llm_router", None)


def resolve_alias(router: Any, name: str) -> dict[str, Any] | None:
    """The ``litellm_params`` of the first deployment of ``name`` in ``router`` (secrets given
    as ``os.environ/...`` are already resolved by the router), or None."""
    if router is None or not name:
        return None
    try:
        deployments = router.get_model_list(model_name=name) or []
    except Exception:  # a router of another version: call the name as a model id
        return None
    for dep in deployments:
        params = dict(dep.get("litellm_params") or {})
        if params.get("model"):
            return params
    return None


class RouterReflector:
    """A :class:`~echosafe_guard.learning.reflector.Reflector` that resolves proxy aliases.

    ``policy_of`` returns the guard's policy (resolved lazily, so building this does no I/O);
    ``router_of`` the router (default: the running proxy's).
    """

    def __init__(
        self,
        policy_of: Callable[[], Policy],
        *,
        router_of: Callable[[], Any] = proxy_router,
        **completion_kwargs: Any,
    ) -> None:
        self._policy_of = policy_of
        self._router_of = router_of
        self.completion_kwargs = completion_kwargs

    def delegate(self, exchange: Exchange) -> LLMReflector:
        """The plain reflector for this exchange, aimed at the resolved deployment."""
        policy = self._policy_of()
        name = policy.reflection.model or exchange.model or ""
        params = resolve_alias(self._router_of(), name) or {"model": name}
        model = str(params.pop("model", "")) or None
        # Router-only settings are not completion arguments.
        for key in ("rpm", "tpm", "weight", "order", "model_info", "max_parallel_requests"):
            params.pop(key, None)
        if is_local_model(model):
            # llama.cpp constrains a local model's answer to JSON (a small model strays).
            params.setdefault("response_format", {"type": "json_object"})
        return LLMReflector(policy, model=model, **{**params, **self.completion_kwargs})

    def reflect(self, exchange: Exchange) -> InsightDraft:
        return self.delegate(exchange).reflect(exchange)

    async def areflect(self, exchange: Exchange) -> InsightDraft:
        return await self.delegate(exchange).areflect(exchange)
