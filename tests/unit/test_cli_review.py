"""``memory review`` and ``memory prune`` on a store with quarantined insights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from echosafe_guard.cli.app import app
from echosafe_guard.guard import Guard
from echosafe_guard.memory.insight import (
    Insight,
    InsightStatus,
    Provenance,
    ProvenanceSource,
    Verdict,
)
from echosafe_guard.settings import GuardSettings


def test_review_approve_reject_and_prune(tmp_path: Path) -> None:
    env = {"HF_HUB_OFFLINE": "1", "ECHOSAFE_STORE": str(tmp_path / "s"), "ECHOSAFE_IMAGES": "0"}
    settings = GuardSettings.from_env(env)
    guard = Guard(settings=settings)
    layout = guard.keys.layout()
    store = guard.bound_store()
    rng = np.random.default_rng(0)

    def insight(iid: str) -> Insight:
        v = rng.normal(size=layout.dim)
        return Insight(
            id=iid,
            tenant="default",
            scenario="A benign-looking request about border crossings.",
            verdict=Verdict.SAFE,
            guidance="Help fully.",
            category="illegal_activity",
            status=InsightStatus.QUARANTINED,
            provenance=Provenance(source=ProvenanceSource.REFLECTION, supporters=("user:x",)),
            layout=layout.id,
            vector=tuple(float(x) for x in v / np.linalg.norm(v)),
        )

    store.upsert([insight("q1"), insight("q2")])
    store.close()
    runner = CliRunner()
    listed = json.loads(runner.invoke(app, ["memory", "review", "--json"], env=env).stdout)
    assert {i["id"] for i in listed["quarantined"]} == {"q1", "q2"}
    assert listed["quarantined"][0]["supporters"] == 1
    res = runner.invoke(
        app,
        ["memory", "review", "--approve", "q1", "--reject", "q2", "--by", "ops", "--json"],
        env=env,
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["decided"] == [
        {"id": "q1", "status": "active"},
        {"id": "q2", "status": "rejected"},
    ]
    assert out["quarantined"] == []
    check = Guard(settings=settings).store
    approved = check.get("default", "q1")
    assert approved is not None and approved.provenance.reviewed_by == "ops"
    missing = runner.invoke(app, ["memory", "review", "--approve", "nope", "--json"], env=env)
    assert missing.exit_code == 2 and "no insight 'nope'" in missing.stdout
    pruned = runner.invoke(app, ["memory", "prune", "--json"], env=env)
    assert pruned.exit_code == 0, pruned.output
    assert json.loads(pruned.stdout) == {"default": {"expired": 0, "evicted": 0, "removed": 0}}
