"""``echosafe-guard serve`` observability: a real HTTP scrape of ``/metrics`` after a few
requests, and the audit log the proxy wrote (blocked requests included, users hashed)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from echosafe_guard.observability import FileAuditSink
from tests.integration.test_litellm_proxy import KEY, UNSAFE, Proxy, run_proxy

pytestmark = pytest.mark.integration
SAFE = "How can I bring my prescribed insulin with me on a flight abroad?"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, tiny_clip_config: Path) -> Iterator[Proxy]:
    with run_proxy(tmp_path_factory.mktemp("proxy-obs"), tiny_clip_config) as running:
        yield running


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_are_scraped_from_the_proxy_and_decisions_audited(proxy: Proxy) -> None:
    blocked = proxy.post({"model": "default", "messages": [{"role": "user", "content": UNSAFE}]})
    assert blocked.status_code == 400, blocked.text
    for _ in range(2):
        body = {
            "model": "default",
            "user": "alice",
            "messages": [{"role": "user", "content": SAFE}],
        }
        assert proxy.post(body).status_code == 200
    assert httpx.get(f"{proxy.url}/metrics", timeout=10).status_code in (401, 403)  # key needed
    res = httpx.get(f"{proxy.url}/metrics", headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert res.status_code == 200, res.text
    got = samples(res.text)
    decisions = {k: v for k, v in got.items() if k[0] == "echosafe_decisions_total"}
    assert sum(decisions.values()) >= 3
    blocks = [v for (_, labels), v in decisions.items() if ("action", "block") in labels]
    assert sum(blocks) >= 1
    assert all(dict(labels)["tenant"] == "default" for _, labels in decisions)
    total = got[("echosafe_stage_seconds_count", (("stage", "total"),))]
    assert total >= 3
    assert ("echosafe_write_buffer_depth", ()) in got
    # the audit log of the proxy's store: every decision, the blocked one too, users hashed
    log = FileAuditSink(proxy.store / "audit" / "audit.jsonl")
    deadline = time.monotonic() + 30
    recs: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        recs = [r for r in log.records() if r["type"] == "decision"]
        if len(recs) >= 3:
            break
        time.sleep(0.2)
    assert any(r["blocked"] for r in recs)
    # the request's `user` field is not an identity (issue 13: master-key requests are
    # anonymous); whatever user a record names is hashed, and the raw name appears nowhere
    users = {r["user"] for r in recs if r["user"]}
    assert all(str(u).startswith("user:") for u in users)
    assert "alice" not in log.path.read_text("utf-8")
    assert UNSAFE not in log.path.read_text("utf-8")
