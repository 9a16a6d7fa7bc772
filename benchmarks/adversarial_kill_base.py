"""What the write paths of the ``kill9`` target share (``adversarial_kill.py`` runs them,
``adversarial_kill_paths.py`` defines them): the child's pipe protocol, the store check, and
the model a store path keeps.

A store path keeps a model of the store (``{tenant/id: [status, support, hits, reviewed_by]}``,
or insights per tenant), advances it by every acknowledged write and accepts the write in
flight whole or not at all: a LocalStore write is one log line per tenant, so the code promises
all-or-nothing for a batch (an upsert, a delete, an import, a seed, a review, a hit flush, a
prune, a learning admission with the neighbours it marks conflicted).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from echosafe_guard.exceptions import EchoSafeError
from echosafe_guard.key.layout import KeyLayout
from echosafe_guard.memory.insight import (
    Insight,
    InsightStatus,
    Provenance,
    ProvenanceSource,
    SearchFilter,
    Verdict,
)
from echosafe_guard.memory.local.local_store import LocalStore

__all__ = [
    "COMPACT",
    "DIM",
    "LAYOUT",
    "LEARNT",
    "TENANT",
    "Op",
    "Out",
    "State",
    "WritePath",
    "check_store",
    "cli",
    "cli_layout",
    "make",
    "sig",
    "tenant_counts",
    "unit",
]

DIM = 16
LAYOUT = KeyLayout(text_model="kill9", text_dim=DIM, image_model="none", image_dim=0)
TENANT = "acme"
COMPACT = 16  # compactions every few writes: kills land in them too
State = dict[str, Any]
LEARNT = Provenance(source=ProvenanceSource.REFLECTION)
_ALL = SearchFilter(statuses=frozenset(InsightStatus))


@dataclass(frozen=True)
class Op:
    intent: dict[str, Any]
    ack: dict[str, Any] | None
    """None: the write in flight when the child was killed."""


class Out:
    """The child's side of the pipe: one ``write`` per line, below ``PIPE_BUF`` (atomic)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def _line(self, tag: str, body: str) -> None:
        data = f"{tag} {body}\n".encode()
        if len(data) >= 4096:
            raise ValueError(f"a {tag} line of {len(data)} bytes would not be written atomically")
        os.write(self.fd, data)

    def ready(self) -> None:
        self._line("R", "{}")

    def intent(self, **op: Any) -> None:
        self._line("I", json.dumps(op, separators=(",", ":")))

    def ack(self, **info: Any) -> None:
        self._line("A", json.dumps(info, separators=(",", ":")))

    def error(self, msg: str) -> None:
        self._line("E", msg.replace("\n", " ")[:3000])


def unit(key: str, dim: int = DIM) -> tuple[float, ...]:
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return tuple(float(x) for x in v / np.linalg.norm(v))


def make(iid: str, tenant: str = TENANT, layout: KeyLayout = LAYOUT, **kw: Any) -> Insight:
    base: dict[str, Any] = {
        "id": iid, "tenant": tenant, "scenario": f"A scenario about {iid}.",
        "verdict": Verdict.UNSAFE, "guidance": f"guidance {iid}", "category": "fraud",
        "provenance": Provenance(source=ProvenanceSource.SEED), "layout": layout.id,
        "vector": unit(iid, layout.dim),
    }  # fmt: skip
    return Insight(**(base | kw))


def sig(ins: Insight) -> list[Any]:
    return [ins.status.value, ins.support, ins.hits, ins.provenance.reviewed_by]


def check_store(root: Path, dim: int) -> tuple[list[Insight], list[str]]:
    """Every insight of every tenant, and what is wrong with the store (empty: nothing)."""
    problems: list[str] = []
    out: list[Insight] = []
    rng = random.Random(0)
    store = LocalStore(root)
    try:
        health = store.health()
        if not health.ok:
            return [], [f"the store does not open: {health.detail}"]
        for tenant in store.tenants():
            items = list(store.iter_insights(tenant, with_vector=True))
            ids = [i.id for i in items]
            if len(set(ids)) != len(ids) or store.count(tenant) != len(ids):
                problems.append(f"{tenant}: duplicate ids or a count off ({store.count(tenant)})")
            for ins in items:
                vec = np.asarray(ins.vector or (), dtype=np.float32)
                if (
                    Insight.model_validate(ins.model_dump()) != ins
                    or ins.tenant != tenant
                    or vec.shape != (dim,)
                    or not abs(float(np.linalg.norm(vec)) - 1) < 1e-3
                ):
                    problems.append(f"{tenant}/{ins.id}: not whole: {ins.model_dump_json()[:200]}")
            out += items
            if not items:
                continue
            q = np.asarray(items[0].vector, dtype=np.float32)
            every = store.search(q, tenant=tenant, k=len(items), filters=_ALL)
            if sorted(h.insight.id for h in every) != sorted(ids):
                problems.append(f"{tenant}: a search does not return exactly the live set")
            for ins in rng.sample(items, min(3, len(items))):
                own = np.asarray(ins.vector, dtype=np.float32)
                top = store.search(own, tenant=tenant, k=3, filters=_ALL)
                if ins.id not in {h.insight.id for h in top if h.score > 0.999}:
                    problems.append(f"{tenant}/{ins.id}: not found by its own vector")
        if store.stats().total != len(out):
            problems.append("stats disagree with the insights read")
    except EchoSafeError as exc:
        problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        store.close()
    return out, problems


class WritePath:
    """One write path. ``child`` runs in the forked writer; the rest in the parent."""

    name = ""
    dim = DIM

    def __init__(self) -> None:
        self.model: State = {}

    def setup(self, root: Path) -> None:
        with LocalStore(root) as store:
            store.bind(LAYOUT)
        self.model = self.observe(root)[0]

    def before_round(self, root: Path) -> None:
        return None

    def child(self, root: Path, rnd: int, out: Out) -> None:
        raise NotImplementedError

    def summary(self, items: list[Insight]) -> State:
        return {f"{i.tenant}/{i.id}": sig(i) for i in items}

    def content(self, items: list[Insight]) -> list[str]:
        """Path-specific checks of what was read back."""
        return []

    def observe(self, root: Path) -> tuple[State, list[str]]:
        items, problems = check_store(root, self.dim)
        return self.summary(items), problems + self.content(items)

    def apply(self, state: State, op: Op) -> State:
        """``state`` after ``op`` (the ack is None for the write in flight)."""
        state = dict(state)
        for iid in op.intent.get("put", ()):
            state[f"{TENANT}/{iid}"] = ["active", 1, 0, None]
        for iid in op.intent.get("del", ()):
            state.pop(f"{TENANT}/{iid}", None)
        return state

    def inflight_ok(self, before: State, after: State, op: Op) -> bool:
        return after == self.apply(before, op)

    def verify(self, root: Path, ops: list[Op]) -> tuple[str, list[str]]:
        expect = self.model
        for op in ops:
            if op.ack is not None:
                expect = self.apply(expect, op)
        inflight = [op for op in ops if op.ack is None]
        obs, problems = self.observe(root)
        self.model = obs
        if problems:
            return "failed", problems
        if obs == expect:
            return ("inflight_dropped" if inflight else "killed_between_writes"), []
        if inflight and self.inflight_ok(expect, obs, inflight[0]):
            return "inflight_applied", []
        diff = sorted(k for k in {*obs, *expect} if obs.get(k) != expect.get(k))
        what = [f"{k}: {expect.get(k)} -> {obs.get(k)}" for k in diff[:4]]
        return "failed", [f"not the acknowledged writes plus all or none of {inflight}: {what}"]

    def finish(self, root: Path) -> list[str]:
        return self.observe(root)[1]


def tenant_counts(items: list[Insight]) -> State:
    return dict(Counter(i.tenant for i in items))


def cli_layout(root: Path) -> KeyLayout:
    """The key layout the CLI's guard has (text only): no model is loaded to know it."""
    from echosafe_guard.cli.common import build_guard

    return build_guard(store=str(root), policy=None, no_images=True).keys.layout()


def cli(*args: str) -> None:
    """Run an ``echosafe-guard`` command in this process (its output goes to /dev/null)."""
    from echosafe_guard.cli.app import app

    rc = app(list(args), standalone_mode=False)
    if rc not in (None, 0):
        raise RuntimeError(f"echosafe-guard {' '.join(args[:2])}: exit {rc}")
