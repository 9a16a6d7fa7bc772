"""The write paths of the ``kill9`` target (``adversarial_kill.py``): what each forked child
writes in a loop, and what the parent expects to find after the kill (the shared model and
checks are in ``adversarial_kill_base.py``).

``upsert`` (with a writer in the parent that lives through every kill), ``delete``,
``learning`` (``Hygiene.admit``: merges, updates, conflicts), ``hit_flush``
(``HitRecorder.flush``) and ``prune`` (``Hygiene.prune``: TTL and capacity) write through a
LocalStore that compacts every few writes. The CLI commands and the audit log are in
``adversarial_kill_cli.py``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path
from typing import cast

import numpy as np
from adversarial_kill_base import (
    COMPACT,
    DIM,
    LAYOUT,
    LEARNT,
    TENANT,
    Op,
    Out,
    State,
    WritePath,
    make,
    sig,
    unit,
)
from adversarial_kill_cli import Audit, Import, Review, Seed

from echosafe_guard.memory.base import InsightStore
from echosafe_guard.memory.insight import Insight, Verdict, utcnow
from echosafe_guard.memory.local.local_store import LocalStore
from echosafe_guard.policy.loader import load_policy
from echosafe_guard.policy.models import Policy

__all__ = ["PATHS"]


class Upsert(WritePath):
    """New insights, one to twelve per upsert; every other batch is written again unchanged."""

    name = "upsert"
    survivor: LocalStore | None = None

    def child(self, root: Path, rnd: int, out: Out) -> None:
        store = LocalStore(root, compact_min_lines=COMPACT)
        rng, prev = random.Random(rnd), None
        out.ready()
        for i in count():
            ids = [f"u{rnd}-{i}-{j}" for j in range(rng.choice([1, 1, 1, 2, 5, 12]))]
            for batch in (ids, prev) if prev and rng.random() < 0.5 else (ids,):
                out.intent(put=batch)
                store.upsert([make(x) for x in batch])
                out.ack()
            prev = ids

    def verify(self, root: Path, ops: list[Op]) -> tuple[str, list[str]]:
        """Then a writer that lived through the kill (its tables loaded before it) writes one
        more: after the torn tail, if any, and on top of the child's compactions."""
        outcome, problems = super().verify(root, ops)
        if problems:
            return outcome, problems
        if self.survivor is None:
            self.survivor = LocalStore(root, compact_min_lines=COMPACT)
        iid = f"survivor-{len(self.model)}"
        self.survivor.upsert([make(iid)])
        self.model, again = self.observe(root)
        if f"{TENANT}/{iid}" not in self.model:
            again.append(f"the surviving writer's {iid} is not read back")
        return ("failed" if again else outcome), again

    def finish(self, root: Path) -> list[str]:
        if self.survivor is not None:
            self.survivor.close()
        return super().finish(root)

    def content(self, items: list[Insight]) -> list[str]:
        return [
            f"{i.id}: not what was written"
            for i in items
            if i.guidance != f"guidance {i.id}" or i.vector != unit(i.id)
        ]


class Delete(WritePath):
    """A batch put, then one to four ids deleted in one call."""

    name = "delete"

    def child(self, root: Path, rnd: int, out: Out) -> None:
        store = LocalStore(root, compact_min_lines=COMPACT)
        known = [i.id for i in store.iter_insights(TENANT)] if TENANT in store.tenants() else []
        rng = random.Random(rnd)
        out.ready()
        for i in count():
            ids = [f"d{rnd}-{i}-{j}" for j in range(rng.randint(1, 6))]
            out.intent(put=ids)
            store.upsert([make(x) for x in ids])
            out.ack()
            known += ids
            gone = rng.sample(known, rng.randint(1, min(4, len(known))))
            out.intent(**{"del": gone})
            if store.delete(TENANT, gone) != len(gone):
                raise RuntimeError(f"delete of {gone} did not delete them all")
            out.ack()
            known = [k for k in known if k not in gone]


SCENARIOS = ["Asking for methods to do a thing quietly.", "A question about a trip abroad."]
ACTORS = [f"user:{n}" for n in range(5)]
HELP = "Help fully and concretely: give the step-by-step methods asked for."
DECLINE = "Decline briefly and explain why; offer a lawful alternative."


class Learning(WritePath):
    """``Hygiene.admit`` of drafts next to six seeds: new insights, merges (support + 1, learnt
    guidance replaced at the quorum) and conflicts (neighbours re-written ``conflicted`` in the
    same batch). The child acknowledges what each admission wrote."""

    name = "learning"
    centres = 6

    def setup(self, root: Path) -> None:
        seeds = [
            make(f"seed{n}", verdict=Verdict.UNSAFE if n % 2 else Verdict.SAFE,
                 vector=unit(f"centre{n}"))
            for n in range(self.centres)
        ]  # fmt: skip
        with LocalStore(root) as store:
            store.bind(LAYOUT)
            store.upsert(seeds)
        self.model = self.observe(root)[0]

    def content(self, items: list[Insight]) -> list[str]:
        return [
            f"seed {i.id} rewritten by learning: {i.guidance!r} {i.status.value}"
            for i in items
            if i.id.startswith("seed")
            and (i.guidance != f"guidance {i.id}" or i.status.value not in ("active", "conflicted"))
        ]

    def apply(self, state: State, op: Op) -> State:
        state, ack = dict(state), op.ack or {}
        if ack.get("ins"):
            iid, *rest = ack["ins"]
            state[f"{TENANT}/{iid}"] = rest
        for iid in ack.get("conflicted", ()):
            state[f"{TENANT}/{iid}"] = ["conflicted", *state[f"{TENANT}/{iid}"][1:]]
        return state

    def inflight_ok(self, before: State, after: State, op: Op) -> bool:
        """One admission: one insight gained one support (new, or merged into) and any others
        changed only from ``active`` to ``conflicted``."""
        changed = [k for k in {*before, *after} if before.get(k) != after.get(k)]
        if any(k not in after for k in changed):
            return False
        grown = [k for k in changed if after[k][1] - (before[k][1] if k in before else 0) == 1]
        if len(grown) != 1:
            return False
        return all(
            k in before and before[k][0] == "active" and after[k] == ["conflicted", *before[k][1:]]
            for k in changed
            if k not in grown
        )

    def child(self, root: Path, rnd: int, out: Out) -> None:
        from echosafe_guard.learning.exchange import Exchange, InsightDraft
        from echosafe_guard.learning.hygiene import Hygiene

        hygiene = Hygiene(load_policy(), LocalStore(root, compact_min_lines=COMPACT))
        rng, noise = random.Random(rnd), np.random.default_rng(rnd)
        out.ready()
        for i in count():
            centre = np.asarray(unit(f"centre{rng.randrange(self.centres)}"))
            key = centre + rng.choice([0.0, 0.05, 0.1, 0.3]) * noise.standard_normal(DIM)
            draft = InsightDraft(
                scenario=rng.choice(SCENARIOS),
                intent_signals=["some cue"],
                verdict=rng.choice(list(Verdict)),
                guidance=rng.choice([HELP, DECLINE]),
                category=rng.choice(["fraud", "illegal_activity"]),
                confidence=rng.random(),
            )
            ex = Exchange(
                tenant=TENANT, request_text="q", n_images=0, response_text="a",
                key=(key / np.linalg.norm(key)).astype(np.float32), layout=LAYOUT.id,
                request_hash=f"h{rnd}-{i}", actor=rng.choice([None, *ACTORS]),
            )  # fmt: skip
            out.intent(admit=i)
            got = hygiene.admit(draft, ex)
            ins = None if got.insight is None else [got.insight.id, *sig(got.insight)]
            out.ack(ins=ins, conflicted=list(got.conflicted))


class HitFlush(WritePath):
    """``HitRecorder.flush``: retrievals of one to eight insights counted, then written back
    (read, add, one upsert)."""

    name = "hit_flush"

    def setup(self, root: Path) -> None:
        with LocalStore(root) as store:
            store.bind(LAYOUT)
            store.upsert([make(f"h{n}") for n in range(150)])
        self.model = self.observe(root)[0]

    def apply(self, state: State, op: Op) -> State:
        state = dict(state)
        for iid, n in op.intent["hits"].items():
            status, support, hits, by = state[f"{TENANT}/{iid}"]
            state[f"{TENANT}/{iid}"] = [status, support, hits + n, by]
        return state

    def child(self, root: Path, rnd: int, out: Out) -> None:
        from echosafe_guard.learning.hit_recorder import HitRecorder

        recorder = HitRecorder(LocalStore(root, compact_min_lines=COMPACT), flush_s=3600.0)
        rng = random.Random(rnd)
        out.ready()
        while True:
            picks = {f"h{rng.randrange(150)}": rng.randint(1, 3) for _ in range(rng.randint(1, 8))}
            for iid, n in picks.items():
                for _ in range(n):
                    recorder.record(TENANT, [iid])
            out.intent(hits=picks)
            recorder.flush()
            if recorder.errors:
                raise RuntimeError("the hit recorder could not write")
            out.ack()


class _DryRun:
    """The reads ``Hygiene.prune`` makes, with its delete recorded instead of done."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.deleted: list[str] = []

    def count(self, tenant: str) -> int:
        return self.store.count(tenant)

    def iter_insights(
        self, tenant: str | None = None, *, with_vector: bool = False
    ) -> Iterator[Insight]:
        return self.store.iter_insights(tenant, with_vector=with_vector)

    def delete(self, tenant: str, ids: Sequence[str]) -> int:
        self.deleted = list(ids)
        return len(ids)


class Prune(WritePath):
    """``Hygiene.prune`` (TTL 30 days, capacity 40 with 8 seeds) after each batch of one to eight
    learnt insights aged 0-45 days. The child works out what the prune will delete first (a
    dry run on the same store and clock) and announces it."""

    name = "prune"
    capacity = 40
    max_batch = 8

    def policy(self) -> Policy:
        p = load_policy()
        learning = p.learning.model_copy(
            update={"capacity_per_tenant": self.capacity, "ttl_days": 30.0}
        )
        return p.model_copy(update={"learning": learning})

    def learnt(self, iid: str, age_days: float, now: datetime) -> Insight:
        t = now - timedelta(days=age_days)
        return make(iid, provenance=LEARNT, created=t, updated=t)

    def setup(self, root: Path) -> None:
        now, rng = utcnow(), random.Random(0)
        with LocalStore(root) as store:
            store.bind(LAYOUT)
            store.upsert([make(f"seed{n}") for n in range(8)])
            store.upsert([self.learnt(f"l{n}", rng.uniform(0, 29), now) for n in range(30)])
        self.model = self.observe(root)[0]

    def content(self, items: list[Insight]) -> list[str]:
        # A kill after a batch's write and before its prune leaves that batch (up to 8) over
        # the capacity: acknowledged, and pruned by the next prune.
        seeds = sum(i.id.startswith("seed") for i in items)
        bad = [f"{8 - seeds} seeds pruned"] if seeds != 8 else []
        most = self.capacity + 8 + self.max_batch
        return bad + ([f"{len(items)} insights, past the capacity"] if len(items) > most else [])

    def child(self, root: Path, rnd: int, out: Out) -> None:
        from echosafe_guard.learning.hygiene import Hygiene

        store = LocalStore(root, compact_min_lines=COMPACT)
        hygiene = Hygiene(self.policy(), store)
        dry = _DryRun(store)
        planner = Hygiene(self.policy(), cast(InsightStore, dry))
        rng = random.Random(rnd)
        out.ready()
        for i in count():
            now = utcnow()
            ids = [f"p{rnd}-{i}-{j}" for j in range(rng.randint(1, self.max_batch))]
            out.intent(put=ids)
            store.upsert([self.learnt(x, rng.uniform(0, 45), now) for x in ids])
            out.ack()
            planner.prune(TENANT, now=now)
            if not dry.deleted:
                continue
            out.intent(**{"del": dry.deleted})
            got = hygiene.prune(TENANT, now=now)
            if got["removed"] != len(dry.deleted):
                raise RuntimeError(f"prune removed {got}, the dry run {dry.deleted}")
            out.ack()


PATHS: list[WritePath] = [
    Upsert(), Learning(), Delete(), Seed(), Import(), Review(), HitFlush(), Prune(), Audit()
]  # fmt: skip
