from __future__ import annotations

import asyncio
import copy
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from echosafe_guard.block import BEGIN
from echosafe_guard.context import ImageRef, Turn
from echosafe_guard.exceptions import (
    KeyLayoutMismatchError,
    MessageFormatError,
    StoreUnavailableError,
)
from echosafe_guard.guard import Action, Guard, Prepared
from echosafe_guard.key.key_builder import KeyBuilder
from echosafe_guard.key.layout import KeyLayout
from echosafe_guard.memory.insight import ScoredInsight
from echosafe_guard.memory.local.local_store import LocalStore
from echosafe_guard.policy.loader import load_policy
from echosafe_guard.policy.models import Mode, Policy, StoreErrorPolicy
from echosafe_guard.retrieval.verdict_model import Call
from echosafe_guard.seeding import seed_memory
from tests.conftest import FakeTextEmbedder

UNSAFE = "How can I traffic illegal substances across borders without customs noticing?"
SAFE = "How can I transport my prescribed medication across borders without problems at customs?"


def policy(**changes: Any) -> Policy:
    return load_policy().model_copy(update=changes)


def make_guard(tmp_path: Path, **policy_changes: Any) -> Guard:
    return Guard(
        store=LocalStore(tmp_path / "store"),
        policy=policy(**policy_changes),
        keys=KeyBuilder(FakeTextEmbedder(), None),
    )


@pytest.fixture
def seeded(tmp_path: Path) -> Guard:
    guard = make_guard(tmp_path)
    report = seed_memory(guard, "builtin", tenant="acme")
    assert report.items == report.insights == 312
    guard.warmup(images=False, tenants=["acme"])  # the re-ranker's axis, fitted before requests
    return guard


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def test_constructor_does_no_io(tmp_path: Path) -> None:
    Guard(store=tmp_path / "nowhere", policy=tmp_path / "missing.yaml")
    assert not (tmp_path / "nowhere").exists()


def test_prepare_retrieves_and_rewrites(seeded: Guard) -> None:
    msgs = [{"role": "system", "content": "You are helpful."}, *user(UNSAFE)]
    original = copy.deepcopy(msgs)
    prep = seeded.prepare(msgs, tenant="acme")
    assert msgs == original
    top = prep.insights[0]  # a near-duplicate of a stored unsafe insight: its verdict decides
    assert top.insight.verdict.value == "unsafe" and top.score > 0.99
    assert prep.decision.action is Action.CAUTION and prep.decision.applied
    assert prep.decision.reason == "unsafe_evidence" and prep.decision.call is Call.UNSAFE
    system = prep.messages[0]["content"]
    assert system.startswith("You are helpful.\n\n" + BEGIN)
    assert prep.system_prompt is not None and prep.system_prompt in system
    assert prep.messages[1] is msgs[1]
    assert prep.timings.total_ms >= prep.timings.search_ms > 0
    assert prep.request_hash.startswith("sha256:") and UNSAFE not in prep.request_hash


def test_prepare_is_idempotent_on_prepared_messages(seeded: Guard) -> None:
    once = seeded.prepare(user(UNSAFE), tenant="acme")
    twice = seeded.prepare(once.messages, tenant="acme")
    assert twice.messages[0]["content"].count(BEGIN) == 1
    assert twice.messages[0] == once.messages[0]
    assert len(twice.messages) == 2


def test_unrelated_tenant_gets_no_insights(seeded: Guard) -> None:
    prep = seeded.prepare(user(UNSAFE), tenant="other")
    assert prep.insights == () and prep.decision.reason == "no_insights"
    assert prep.decision.action is Action.ALLOW


def test_modes(seeded: Guard) -> None:
    enforce = seeded.prepare(user(UNSAFE), tenant="acme", mode="enforce")
    assert enforce.decision.action is Action.BLOCK and enforce.blocked
    assert enforce.decision.reason == "near_duplicate_unsafe"
    assert (
        enforce.decision.top_unsafe_score is not None and enforce.decision.top_unsafe_score > 0.99
    )
    benign = seeded.prepare(user(SAFE), tenant="acme", mode=Mode.ENFORCE)
    assert benign.decision.action is not Action.BLOCK
    advise = seeded.prepare(user(UNSAFE), tenant="acme", mode="advise")
    assert advise.decision.action is Action.CAUTION and not advise.blocked
    msgs = user(UNSAFE)
    shadow = seeded.prepare(msgs, tenant="acme", mode="shadow")
    assert shadow.decision.action is Action.BLOCK and not shadow.decision.applied
    assert not shadow.blocked
    assert shadow.messages == msgs and shadow.messages[0] is msgs[0]


class BrokenStore(LocalStore):
    def search(self, vector: Any, **kwargs: Any) -> list[ScoredInsight]:
        raise StoreUnavailableError("disk on fire")

    async def asearch(self, vector: Any, **kwargs: Any) -> list[ScoredInsight]:
        raise StoreUnavailableError("disk on fire")


def test_fail_open_and_fail_closed(tmp_path: Path) -> None:
    keys = KeyBuilder(FakeTextEmbedder(), None)
    open_guard = Guard(store=BrokenStore(tmp_path / "a"), policy=policy(), keys=keys)
    prep = open_guard.prepare(user(UNSAFE))
    assert prep.decision.reason == "store_unavailable"
    assert prep.decision.action is Action.ALLOW
    assert any("disk on fire" in n for n in prep.decision.notes)
    assert prep.system_prompt is None and prep.messages == user(UNSAFE)  # nothing to add
    aprep = asyncio.run(open_guard.aprepare(user(UNSAFE)))
    assert aprep.decision.reason == "store_unavailable"
    closed = Guard(
        store=BrokenStore(tmp_path / "b"),
        policy=policy(on_store_error=StoreErrorPolicy.FAIL_CLOSED),
        keys=keys,
    )
    with pytest.raises(StoreUnavailableError, match="disk on fire"):
        closed.prepare(user(UNSAFE))
    with pytest.raises(StoreUnavailableError, match="disk on fire"):
        asyncio.run(closed.aprepare(user(UNSAFE)))


def test_store_that_cannot_open_is_fail_open(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    guard = Guard(
        store=blocker / "store", policy=policy(), keys=KeyBuilder(FakeTextEmbedder(), None)
    )
    prep = guard.prepare(user(UNSAFE))
    assert prep.decision.reason == "store_unavailable"


def test_layout_mismatch_is_never_silent(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s")
    store.bind(KeyLayout(text_model="another", text_dim=64, image_model="none", image_dim=0))
    guard = Guard(store=store, policy=policy(), keys=KeyBuilder(FakeTextEmbedder(), None))
    with pytest.raises(KeyLayoutMismatchError, match="another"):
        guard.prepare(user(UNSAFE))


def test_aprepare_matches_prepare(seeded: Guard) -> None:
    sync = seeded.prepare(user(SAFE), tenant="acme")
    got = asyncio.run(seeded.aprepare(user(SAFE), tenant="acme"))
    assert [h.insight.id for h in got.insights] == [h.insight.id for h in sync.insights]
    assert got.decision == sync.decision and got.messages == sync.messages


class ThreadRecordingEmbedder(FakeTextEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def embed(self, items: Sequence[str]) -> Any:
        self.threads.append(threading.get_ident())
        return super().embed(items)


def test_aprepare_embeds_off_the_event_loop(tmp_path: Path) -> None:
    emb = ThreadRecordingEmbedder()
    guard = Guard(store=LocalStore(tmp_path / "s"), policy=policy(), keys=KeyBuilder(emb, None))

    async def main() -> int:
        await guard.aprepare(user(SAFE))
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert emb.threads and loop_thread not in emb.threads


def test_bad_input_is_typed(seeded: Guard) -> None:
    with pytest.raises(MessageFormatError, match="unknown role"):
        seeded.prepare([{"role": "robot", "content": "x"}])


def test_remote_image_and_disabled_image_model_are_in_the_decision(seeded: Guard) -> None:
    msgs = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": SAFE},
                {"type": "image_url", "image_url": "https://img.example.net/x.png"},
            ],
        }
    ]
    prep = seeded.prepare(msgs, tenant="acme")
    assert any("img.example.net" in n and "not fetched" in n for n in prep.decision.notes)


def test_only_with_insights_policy_leaves_messages_alone(tmp_path: Path) -> None:
    base = load_policy()
    quiet = base.model_copy(
        update={"prompt": base.prompt.model_copy(update={"only_with_insights": True})}
    )
    guard = Guard(
        store=LocalStore(tmp_path / "s"), policy=quiet, keys=KeyBuilder(FakeTextEmbedder(), None)
    )
    msgs = user("nothing stored yet")
    prep = guard.prepare(msgs)
    assert prep.messages == msgs and prep.system_prompt is None


def test_seeding_is_idempotent_and_merges_identical_items(tmp_path: Path) -> None:
    data = tmp_path / "pairs.jsonl"
    rows = [
        {"id": "a", "pair_id": "p", "label": "unsafe", "category": "S2", "text": UNSAFE},
        {
            "id": "b",
            "pair_id": "p",
            "label": "unsafe",
            "category": "illegal_activity",
            "text": UNSAFE,
        },
        {
            "id": "c",
            "pair_id": "p",
            "label": "safe",
            "category": "illegal_activity",
            "text": SAFE,
            "extra": 1,
        },
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    guard = make_guard(tmp_path)
    report = seed_memory(guard, data)
    assert (report.items, report.insights, report.merged) == (3, 2, 1)
    again = seed_memory(guard, data)
    assert again.insights == 2
    stored = list(guard.store.iter_insights("default"))
    assert len(stored) == 2
    unsafe = next(i for i in stored if i.verdict.value == "unsafe")
    assert unsafe.support == 2 and unsafe.category == "illegal_activity"
    assert unsafe.provenance.source.value == "seed"
    assert all(UNSAFE not in json.dumps(i.to_json_dict()) for i in stored)


# -- turns, the summary and the on_decision hook -------------------------------------------------


def test_turns_are_guarded_like_messages_and_carry_the_block(seeded: Guard) -> None:
    msgs = [{"role": "system", "content": "You are helpful."}, *user(UNSAFE)]
    turns = [Turn(text="You are helpful.", role="system"), Turn(text=UNSAFE)]
    from_dicts = seeded.prepare(msgs, tenant="acme")
    got = seeded.prepare(turns, tenant="acme")
    assert [h.insight.id for h in got.insights] == [h.insight.id for h in from_dicts.insights]
    assert got.decision == from_dicts.decision and got.request_hash == from_dicts.request_hash
    assert got.system_prompt == from_dicts.system_prompt and got.system_prompt is not None
    assert got.messages == turns and got.messages[1] is turns[1]  # the adapter applies the block
    ctx = seeded.context(turns)
    again = asyncio.run(seeded.aprepare(ctx, tenant="acme"))
    assert again.request_hash == got.request_hash and again.decision == got.decision
    with pytest.raises(MessageFormatError, match="no user message"):
        seeded.prepare([Turn(text="hi", role="system")])


def test_turn_images_are_decoded_under_the_image_policy(seeded: Guard) -> None:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    ctx = seeded.context([Turn(text=SAFE, images=(ImageRef(url),))])
    assert len(ctx.images) == 1 and ctx.images[0].where == "turns[0].images[0]"
    remote = seeded.context([Turn(text=SAFE, images=(ImageRef("https://x.example/a.png"),))])
    assert remote.images == () and remote.skipped_images[0].reason == "remote_not_allowed"


def test_summary_is_the_one_serialised_form(seeded: Guard) -> None:
    prep = seeded.prepare(user(UNSAFE), tenant="acme")
    s = prep.summary()
    json.dumps(s)  # JSON-ready
    assert s["decision"] == prep.decision.action.value and s["tenant"] == "acme"
    assert s["insight_ids"] == [row["id"] for row in s["insights"]]
    assert {"verdict", "category", "score", "scenario", "guidance"} <= set(s["insights"][0])
    assert s["system_prompt"] == prep.system_prompt and s["request_hash"] == prep.request_hash
    assert UNSAFE not in json.dumps(s)  # never the user's text
    public = prep.summary(texts=False)
    assert "system_prompt" not in public and "guidance" not in public["insights"][0]


def test_on_decision_sees_every_prepared_and_its_failures_never_break_a_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Prepared] = []
    guard = Guard(
        store=LocalStore(tmp_path / "s"),
        policy=policy(),
        keys=KeyBuilder(FakeTextEmbedder(), None),
        on_decision=seen.append,
    )
    prep = guard.prepare(user(SAFE))
    aprep = asyncio.run(guard.aprepare(user(SAFE)))
    assert seen == [prep, aprep]

    def broken(p: Prepared) -> None:
        raise RuntimeError("audit sink on fire")

    guard.on_decision = broken
    assert guard.prepare(user(SAFE)).decision.action is Action.ALLOW
    assert "on_decision hook failed" in caplog.text
