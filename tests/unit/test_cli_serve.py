"""``echosafe-guard serve`` config building (the running proxy is tested in tests/integration)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from echosafe_guard.cli.app import app
from echosafe_guard.cli.serve import DEFAULT_MODEL, GUARDRAIL, LOCAL_HANDLER, build_config


def test_build_config_adds_the_guardrail_once_and_the_master_key() -> None:
    cfg = build_config(None, "ollama/llama3")
    assert cfg["model_list"] == [
        {"model_name": "default", "litellm_params": {"model": "ollama/llama3"}}
    ]
    assert [r["litellm_params"]["guardrail"] for r in cfg["guardrails"]] == [GUARDRAIL]
    assert cfg["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    again = build_config(cfg, None)
    assert len(again["guardrails"]) == 1


def test_serve_dry_run_prints_url_key_and_curl(tmp_path: Path) -> None:
    user_cfg = tmp_path / "proxy.yaml"
    user_cfg.write_text(
        yaml.safe_dump(
            {"model_list": [{"model_name": "x", "litellm_params": {"model": "openai/gpt-4o-mini"}}]}
        )
    )
    res = CliRunner().invoke(
        app,
        ["serve", "--config", str(user_cfg), "--port", "4999", "--dry-run", "--json"],
        env={"LITELLM_MASTER_KEY": ""},
    )
    assert res.exit_code == 0, res.output
    info, cfg = (json.loads(x) for x in res.stdout.splitlines()[:2])
    assert info["base_url"] == "http://127.0.0.1:4999"
    assert info["master_key"].startswith("sk-echosafe-") and len(info["master_key"]) > 30
    assert info["master_key"] in info["curl"]
    assert cfg["guardrails"][0]["litellm_params"]["guardrail"] == GUARDRAIL
    written = yaml.safe_load(Path(info["config"]).read_text())
    assert written == cfg


def test_serve_without_a_model_serves_the_local_model() -> None:
    res = CliRunner().invoke(app, ["serve", "--dry-run", "--json"], env={"LITELLM_MASTER_KEY": ""})
    assert res.exit_code == 0, res.output
    cfg = json.loads(res.stdout.splitlines()[1])
    assert cfg["model_list"] == [
        {"model_name": "default", "litellm_params": {"model": DEFAULT_MODEL}}
    ]
    assert cfg["litellm_settings"]["custom_provider_map"] == [
        {"provider": "local", "custom_handler": LOCAL_HANDLER}
    ]


def test_local_handler_is_added_next_to_the_users_providers() -> None:
    mine = {"provider": "mine", "custom_handler": "my.handler"}
    cfg = build_config(
        {
            "model_list": [{"model_name": "a", "litellm_params": {"model": "local/x.gguf"}}],
            "litellm_settings": {"custom_provider_map": [mine]},
        },
        None,
    )
    assert [p["provider"] for p in cfg["litellm_settings"]["custom_provider_map"]] == [
        "mine",
        "local",
    ]
    remote = build_config(None, "openai/gpt-4o-mini")
    assert "litellm_settings" not in remote
