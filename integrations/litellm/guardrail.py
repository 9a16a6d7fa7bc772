"""``EchoSafeGuardrail``: the guard as a LiteLLM proxy guardrail.

In the proxy config::

    guardrails:
      - guardrail_name: echosafe
        litellm_params:
          guardrail: echosafe_guard.integrations.litellm.EchoSafeGuardrail
          mode: [pre_call, post_call]
          default_on: true
          store: ./.echosafe          # optional; else ECHOSAFE_STORE
          policy: default             # optional; else ECHOSAFE_POLICY
          trusted_user_header: x-end-user-id  # optional: only if a gateway you trust sets it

* pre-call: ``data["messages"]`` is rewritten; an ``enforce`` block answers HTTP 400 with the
  policy's ``block_message``;
* post-call (also for streams, from the assembled text): the exchange is queued for learning;
  only an authenticated id counts toward the learning quorum: a virtual key's ``user_id`` or
  the ``trusted_user_header`` (never the request's ``user`` field); anonymous exchanges share
  one rate-limit bucket per API key. Issue per-user virtual keys (``/key/generate`` with a
  ``user_id``) so that each end user counts once;
* the tenant is the virtual key's team, else its user, else ``metadata.echosafe_tenant``, else
  ``default``; the decision, applied insight ids and timings go into LiteLLM's guardrail logging
  information and the ``x-echosafe-decision`` response header;
* learning reflects through the proxy's router (:class:`RouterReflector`): a model alias such as
  ``support-bot`` resolves to its deployment. What learning did so far (``failed_model``,
  ``dropped_invalid``, ...) is in the ``x-echosafe-learning`` header and in the status file
  ``echosafe-guard doctor`` reads (:func:`learning_status_path`);
* a request with images for a text-only model (``local/...``) gets a decision note saying so;
* observability (the policy's ``observability:`` section): every decision, blocked ones too,
  goes to the audit log (with the hashed user), the metrics (``/metrics`` on the proxy, see
  :mod:`.metrics_endpoint`) and the spans; each guardrail run (pre-call decision, post-call
  learning) is one ``StandardLoggingGuardrailInformation`` entry with action, risk categories,
  confidence and the insights as match details, for LiteLLM's own OTel, Langfuse and Prometheus.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from fastapi import HTTPException
from litellm.integrations.custom_guardrail import CustomGuardrail

from echosafe_guard.exceptions import (
    EchoSafeError,
    ImageTooLargeError,
    InputError,
    InputTooLargeError,
)
from echosafe_guard.guard import Guard, Prepared
from echosafe_guard.observability.observer import Observability, observe
from echosafe_guard.settings import GuardSettings

from .learning_status import StatusWriter
from .local_provider import is_local_model
from .metrics_endpoint import mount_metrics
from .router_reflector import RouterReflector, proxy_router, resolve_alias
from .sdk import chunk_text

__all__ = ["EchoSafeGuardrail"]

HEADER = "x-echosafe-decision"
LEARNING_HEADER = "x-echosafe-learning"
_CHAT_CALLS = {"completion", "acompletion", "text_completion"}


def _call_id(data: dict[str, Any]) -> str | None:
    cid = data.get("litellm_call_id")
    return str(cid) if cid else None


class EchoSafeGuardrail(CustomGuardrail):  # type: ignore[misc]
    """A LiteLLM ``CustomGuardrail`` around one :class:`~echosafe_guard.Guard`."""

    def __init__(
        self,
        store: str | None = None,
        policy: str | None = None,
        guard: Guard | None = None,
        trusted_user_header: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.optional_params = kwargs
        self.trusted_user_header = trusted_user_header
        """An end-user header set by a trusted gateway; its value counts toward the quorum."""
        super().__init__(**kwargs)
        settings = GuardSettings.from_env(store=store, policy=policy)
        if settings.torch_threads is None:
            # The proxy's event loop, the learner and the embedding share the cores: spare torch
            # threads only contend (see echosafe_guard.key.torch_threads). Env overrides.
            settings = settings.model_copy(update={"torch_threads": 1})
        self.guard = guard or Guard(
            settings=settings, reflector=RouterReflector(lambda: self.guard.policy)
        )
        # Per call id: the prepared request until the answer is learnt (popped), and the
        # decision for the response header. Both bounded.
        self._prepared: OrderedDict[str, Prepared] = OrderedDict()
        self._decisions: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self.status = StatusWriter(self.learning_counters)
        self.obs: Observability | None = None
        with contextlib.suppress(EchoSafeError):  # a bad policy is reported by the first request
            self.obs = observe(self.guard, decisions=False)  # decisions: with the user, below
            if self.obs is not None:
                atexit.register(self.obs.close)  # drain the audit writer when the proxy stops
                if self.obs.metrics is not None:
                    mount_metrics()
        # Load models and open the store now, off the request path.
        threading.Thread(target=self._warmup, name="echosafe-warmup", daemon=True).start()

    def _warmup(self) -> None:
        with contextlib.suppress(EchoSafeError):  # reported again, typed, by the first request
            self.guard.warmup()

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def tenant_of(user_api_key_dict: Any, data: dict[str, Any]) -> str:
        """The virtual key's team, else its user. Only an admin key (the master key) may name a
        tenant in ``metadata.echosafe_tenant``: a user must not pick whose memory it reads or
        teaches."""
        team = getattr(user_api_key_dict, "team_id", None)
        if team:
            return f"team:{team}"
        role = str(getattr(user_api_key_dict, "user_role", "") or "")
        admin = role.endswith("proxy_admin")
        user = getattr(user_api_key_dict, "user_id", None)
        if user and not admin:
            return f"user:{user}"
        meta = data.get("metadata") or {}
        tenant = meta.get("echosafe_tenant") if isinstance(meta, dict) else None
        return str(tenant) if tenant and admin else "default"

    @staticmethod
    def user_of(
        user_api_key_dict: Any, data: dict[str, Any], trusted_header: str | None = None
    ) -> str | None:
        """Who asked, for the learning quorum: only an authenticated id. A virtual key's
        ``user_id`` (not the admin key's: LiteLLM gives every master-key caller the same
        placeholder), else the end-user header the operator trusts (``trusted_header``,
        set by a gateway in front of the proxy). The request's ``user`` field is chosen by the
        caller and never counts: three made-up values would make a quorum (sybils)."""
        role = str(getattr(user_api_key_dict, "user_role", "") or "")
        if not role.endswith("proxy_admin"):
            value = getattr(user_api_key_dict, "user_id", None)
            if value:
                return str(value)
        if trusted_header:
            request = data.get("proxy_server_request")
            headers = request.get("headers") if isinstance(request, dict) else None
            if isinstance(headers, dict):
                want = trusted_header.lower()
                for name, value in headers.items():
                    if str(name).lower() == want and value:
                        return str(value)
        return None

    @staticmethod
    def bucket_of(user_api_key_dict: Any) -> str | None:
        """The rate-limit bucket of an anonymous exchange: its API key (hashed by LiteLLM)."""
        token = getattr(user_api_key_dict, "token", None) or getattr(
            user_api_key_dict, "api_key", None
        )
        return f"key:{token}" if token else None

    def _remember(self, data: dict[str, Any], prep: Prepared) -> None:
        cid = _call_id(data)
        if cid is None:
            return
        header = f"{prep.decision.action.value}; reason={prep.decision.reason}"
        with self._lock:
            self._prepared[cid] = prep
            self._decisions[cid] = header
            while len(self._prepared) > 1_000:  # requests that never got an answer
                self._prepared.popitem(last=False)
            while len(self._decisions) > 10_000:
                self._decisions.popitem(last=False)

    def _take(self, data: dict[str, Any]) -> Prepared | None:
        """The prepared request of this call, once (so an answer is learnt only once)."""
        cid = _call_id(data)
        if cid is None:
            return None
        with self._lock:
            return self._prepared.pop(cid, None)

    @staticmethod
    def text_only_note(data: dict[str, Any], prep: Prepared) -> list[str]:
        """A note when images go to a text-only (``local/...``) deployment."""
        n = len(prep.context.images) if prep.context is not None else 0
        if not n:  # the common case: no router lookup on the request path
            return []
        alias = str(data.get("model") or "")
        params = resolve_alias(proxy_router(), alias) or {"model": alias}
        if not is_local_model(str(params.get("model"))):
            return []
        return [f"{n} image(s) not seen by the text-only model {params['model']}"]

    @staticmethod
    def tracing_detail(prep: Prepared, policy: str | None = None) -> dict[str, Any]:
        """The provider fields of LiteLLM's ``StandardLoggingGuardrailInformation``."""
        d = prep.decision
        intervened = d.applied and d.action.value != "allow"
        risky = sorted(
            {h.insight.category for h in prep.insights if h.insight.verdict.value == "unsafe"}
        )
        p = d.p_unsafe
        return {
            "guardrail_id": "echosafe",
            "policy_template": policy,
            "detection_method": "memory-retrieval",
            "confidence_score": round(p, 4) if p is not None else None,
            "classification": {"decision": d.action.value, "reason": d.reason,
                               "call": d.call.value if d.call else None, "mode": d.mode.value},
            "match_details": [
                {"insight_id": h.insight.id, "verdict": h.insight.verdict.value,
                 "category": h.insight.category, "score": round(h.score, 4)}
                for h in prep.insights
            ],
            "patterns_checked": len(prep.insights),
            "risk_score": round(10 * p, 2) if p is not None else None,
            "violation_categories": risky if intervened else [],
            "guardrail_action": d.action.value.upper() if d.applied else "NONE",
        }  # fmt: skip

    def learning_counters(self) -> dict[str, int]:
        """What the learning loop did so far (empty before the first exchange)."""
        if not self.guard.policy.learning.enabled:
            return {}
        return dict(sorted(self.guard.learner.counters.items()))

    # -- hooks ---------------------------------------------------------------------------------

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: str
    ) -> dict[str, Any] | None:
        from litellm.types.guardrails import GuardrailEventHooks

        if call_type not in _CHAT_CALLS or "messages" not in data:
            return data
        if not self.should_run_guardrail(data, GuardrailEventHooks.pre_call):
            return data
        tenant = self.tenant_of(user_api_key_dict, data)
        try:
            prep = await self.guard.aprepare(data["messages"], tenant=tenant)
        except InputError as exc:
            if isinstance(exc, (InputTooLargeError, ImageTooLargeError)):
                # Refused unread: LiteLLM's failure logging would otherwise walk (and, in
                # 1.106, keep about 1 MB of native memory per 1,000 messages of) the whole body.
                data["messages"] = [
                    {"role": "user", "content": f"[echosafe: refused unread: {exc}]"}
                ]
            raise HTTPException(status_code=400, detail={"error": f"echosafe: {exc}"}) from exc
        end = time.time()
        # The logged record leaves out the insights' texts and the system prompt (ids, scores,
        # decision and timings stay): LiteLLM walks it (masking, redaction) on the event loop,
        # and those texts are already in the rewritten request.
        info = prep.summary(texts=False)
        info["notes"] = [*info["notes"], *self.text_only_note(data, prep)]
        if prep.blocked:
            status = "guardrail_intervened"
        elif prep.decision.applied and prep.decision.action.value != "allow":
            status = "guardrail_flagged"
        else:
            status = "success"
        p = self.guard.policy
        detail = self.tracing_detail(prep, f"{p.name}@v{p.version}")
        self.add_standard_logging_guardrail_information_to_request_data(
            guardrail_json_response=info,
            request_data=data,
            guardrail_status=status,
            start_time=end - prep.timings.total_ms / 1000,
            end_time=end,
            duration=prep.timings.total_ms / 1000,
            guardrail_provider="echosafe",
            event_type=GuardrailEventHooks.pre_call,
            tracing_detail=detail,
        )
        if self.obs is not None:
            self.obs.decision(prep, user=self.user_of(user_api_key_dict, data))
        if prep.blocked:
            raise HTTPException(
                status_code=400,
                detail={
                    "error": self.guard.policy.block_message,
                    "echosafe": info,
                },
            )
        data["messages"] = prep.messages
        self._remember(data, prep)
        return data

    def _log_learning(self, data: dict[str, Any], prep: Prepared, queued: bool, t0: float) -> None:
        """The post-call run's own guardrail logging entry (one entry per guardrail run)."""
        from litellm.types.guardrails import GuardrailEventHooks

        end = time.time()
        with contextlib.suppress(Exception):  # logging never fails a response
            self.add_standard_logging_guardrail_information_to_request_data(
                guardrail_json_response={
                    "learning": "queued" if queued else "not_learnt",
                    "request_hash": prep.request_hash,
                    "tenant": prep.tenant,
                },
                request_data=data,
                guardrail_status="success",
                start_time=t0,
                end_time=end,
                duration=end - t0,
                guardrail_provider="echosafe",
                event_type=GuardrailEventHooks.post_call,
                tracing_detail={"guardrail_id": "echosafe", "detection_method": "learning"},
            )

    async def async_post_call_success_hook(
        self, data: dict[str, Any], user_api_key_dict: Any, response: Any
    ) -> Any:
        prep = self._take(data)
        if prep is not None:
            self.status.start()
            t0, queued = time.time(), False
            with contextlib.suppress(EchoSafeError):  # learning never fails a response
                queued = await self.guard.alearn(
                    prep,
                    response,
                    user=self.user_of(user_api_key_dict, data, self.trusted_user_header),
                    model=data.get("model"),
                    bucket=self.bucket_of(user_api_key_dict),
                )
            self._log_learning(data, prep, queued, t0)
        return response

    async def async_post_call_streaming_iterator_hook(
        self, user_api_key_dict: Any, response: Any, request_data: dict[str, Any]
    ) -> AsyncGenerator[Any, None]:
        parts: list[str] = []
        async for chunk in response:
            parts.append(chunk_text(chunk))
            yield chunk
        prep = self._take(request_data)
        if prep is not None:
            self.status.start()
            with contextlib.suppress(EchoSafeError):
                await self.guard.alearn(
                    prep,
                    "".join(parts),
                    user=self.user_of(user_api_key_dict, request_data, self.trusted_user_header),
                    model=request_data.get("model"),
                    bucket=self.bucket_of(user_api_key_dict),
                )

    async def async_post_call_response_headers_hook(
        self,
        data: dict[str, Any],
        user_api_key_dict: Any,
        response: Any,
        request_headers: dict[str, str] | None = None,
        litellm_call_info: dict[str, Any] | None = None,
    ) -> dict[str, str] | None:
        cid = _call_id(data)
        with self._lock:
            header = self._decisions.pop(cid, None) if cid else None
        headers = {HEADER: header} if header else {}
        counters = self.learning_counters()
        if counters:
            headers[LEARNING_HEADER] = "; ".join(f"{k}={v}" for k, v in counters.items())
        return headers or None
