"""``echosafe-guard serve``: the LiteLLM proxy on loopback with the guard loaded."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from echosafe_guard.cli.common import JsonOpt, PolicyOpt, StoreOpt, console, emit_json, fail

__all__ = ["DEFAULT_MODEL", "GUARDRAIL", "LOCAL_HANDLER", "build_config", "serve"]

GUARDRAIL = "echosafe_guard.integrations.litellm.EchoSafeGuardrail"
_RUN_PROXY = (
    "import sys; from echosafe_guard.integrations.litellm.body_gate import gate_uvicorn; "
    "gate_uvicorn(); from litellm import run_server; sys.exit(run_server())"
)
LOCAL_HANDLER = "echosafe_guard.integrations.litellm.local_provider.handler"
DEFAULT_MODEL = "local/qwen2.5-coder-1.5b"
"""Served when neither ``--model`` nor a config's ``model_list`` is given (the ``[local]``
extra; same id as ``echosafe_guard.integrations.litellm.local_gguf.DEFAULT_LOCAL_MODEL``)."""


def _with_local_provider(cfg: dict[str, Any]) -> None:
    """Name the ``local`` provider's handler in ``litellm_settings`` when a deployment uses it
    (the proxy replaces ``litellm.custom_provider_map`` with the config's list)."""
    models = [str((m.get("litellm_params") or {}).get("model", "")) for m in cfg["model_list"]]
    if not any(m.startswith("local/") for m in models):
        return
    settings = dict(cfg.get("litellm_settings") or {})
    providers = list(settings.get("custom_provider_map") or [])
    if not any(p.get("provider") == "local" for p in providers):
        providers.append({"provider": "local", "custom_handler": LOCAL_HANDLER})
    settings["custom_provider_map"] = providers
    cfg["litellm_settings"] = settings


def build_config(config: dict[str, Any] | None, model: str | None) -> dict[str, Any]:
    """A proxy config: the user's (or one model named ``default``: ``--model``, else the local
    model), with the guardrail added."""
    cfg: dict[str, Any] = dict(config or {})
    if model or not cfg.get("model_list"):
        cfg["model_list"] = [
            {"model_name": "default", "litellm_params": {"model": model or DEFAULT_MODEL}}
        ]
    _with_local_provider(cfg)
    rails = list(cfg.get("guardrails") or [])
    if not any(r.get("litellm_params", {}).get("guardrail") == GUARDRAIL for r in rails):
        rails.append(
            {
                "guardrail_name": "echosafe",
                "litellm_params": {
                    "guardrail": GUARDRAIL,
                    "mode": ["pre_call", "post_call"],
                    "default_on": True,
                },
            }
        )
    cfg["guardrails"] = rails
    general = dict(cfg.get("general_settings") or {})
    general["master_key"] = "os.environ/LITELLM_MASTER_KEY"
    cfg["general_settings"] = general
    return cfg


def serve(
    config: Annotated[Path | None, typer.Option("--config", help="LiteLLM proxy config.")] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help=f"LiteLLM model id served as 'default' (default: {DEFAULT_MODEL}, offline).",
        ),
    ] = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 4000,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="Serve the guard's Prometheus metrics on 127.0.0.1:PORT/metrics "
            "(default: /metrics on the proxy itself, behind its key).",
        ),
    ] = None,
    store: StoreOpt = None,
    policy: PolicyOpt = None,
    dry_run: Annotated[bool, typer.Option(help="Print the config and exit.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Start the LiteLLM proxy on loopback with echosafe-guard in front of every model."""
    try:
        base = yaml.safe_load(config.read_text("utf-8")) if config else None
        cfg = build_config(base, model)
    except (OSError, yaml.YAMLError, ValueError, AttributeError) as exc:
        fail(f"serve: {exc}", as_json=as_json)
        return
    key = os.environ.get("LITELLM_MASTER_KEY") or "sk-echosafe-" + secrets.token_urlsafe(24)
    workdir = (
        config.resolve().parent if config else Path(tempfile.mkdtemp(prefix="echosafe-serve-"))
    )
    path = workdir / ".echosafe-proxy.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), "utf-8")
    url = f"http://127.0.0.1:{port}"
    metrics_url = f"http://127.0.0.1:{metrics_port or port}/metrics"
    curl = (
        f"curl {url}/v1/chat/completions -H 'Authorization: Bearer {key}' "
        "-H 'Content-Type: application/json' "
        """-d '{"model": "default", "messages": [{"role": "user", "content": "Hello"}]}'"""
    )
    user_keys = (
        f"curl {url}/key/generate -H 'Authorization: Bearer {key}' "
        """-H 'Content-Type: application/json' -d '{"user_id": "alice"}'"""
    )
    info = {
        "base_url": url,
        "master_key": key,
        "config": str(path),
        "curl": curl,
        "metrics_url": metrics_url,
        "per_user_keys": user_keys,
    }
    if as_json:
        emit_json(info)
    else:
        console.print(f"echosafe-guard proxy on [bold]{url}[/] (config {path})", highlight=False)
        console.print(f"master key: {key}", highlight=False, markup=False)
        console.print(curl, highlight=False, markup=False)
        console.print(
            "Learning counts only authenticated users toward its quorum: a virtual key's "
            "user_id (or a trusted_user_header set in the guardrail's litellm_params), never "
            "the request's 'user' field; master-key traffic is anonymous. Issue one key per "
            "end user (LiteLLM keeps virtual keys in its database: set DATABASE_URL):",
            highlight=False,
            markup=False,
        )
        console.print(user_keys, highlight=False, markup=False)
    if dry_run:
        sys.stdout.write(json.dumps(cfg) + "\n") if as_json else console.print(yaml.safe_dump(cfg))
        return
    if importlib.util.find_spec("fastapi") is None:
        fail("serve needs the LiteLLM proxy: pip install 'echosafe-guard[proxy]'", as_json=as_json)
    env = {**os.environ, "LITELLM_MASTER_KEY": key, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    if store:
        env["ECHOSAFE_STORE"] = store
    if policy:
        env["ECHOSAFE_POLICY"] = policy
    if metrics_port:
        env["ECHOSAFE_METRICS_PORT"] = str(metrics_port)
    # The proxy CLI of *this* interpreter (a `litellm` script on PATH may be another install).
    cmd = [sys.executable, "-c", _RUN_PROXY]
    cmd += ["--config", str(path), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, cwd=workdir)

    def stop(signum: int, _frame: object) -> None:
        proc.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    raise typer.Exit(proc.wait())
