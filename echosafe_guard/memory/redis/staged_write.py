"""All-or-nothing writes of several documents for ``RedisStore``: stage, commit, apply.

A write of several insights (``memory import``, seeding, a drained write buffer) leaves either
none or all of them in the store, even when the writing process is killed at any moment. One
MULTI/EXEC transaction would not do: a clustered database refuses one across hash slots (each
tenant has its own), and the server would stall while it indexes the whole batch (about 1 ms a
document at 768 dimensions). So the write is a small journal of single-key steps:

1. **stage**: each document is written, pipelined in batches, under
   ``{base}:stage:{txid}:{{tenant tag}}:{id}``, outside the index prefix ``{base}:i:``: no
   search sees it. The state key ``{base}:txn:{txid}`` holds ``staging`` with a TTL of
   :data:`LEASE_MS` (a lease renewed by every batch) and ``{base}:txns`` lists the transaction.
2. **commit**: ``SET {base}:txn:{txid} <manifest> XX``, one single-key command, is the commit
   point. It succeeds only while the lease lives, and it drops the TTL.
3. **apply**: the tenants join ``{base}:tenants`` and each staged key is ``RENAME``d onto its
   final key ``{base}:i:{{tenant tag}}:{id}`` (the same hash slot), pipelined in batches; the
   index picks each document up as it arrives.
4. **finish**: the state key is deleted and the transaction unlisted.

:func:`recover` runs when a store object opens the index and before each write of several: a
listed transaction whose state is a manifest is rolled forward (a ``RENAME`` whose staged key is
gone was done already), one whose lease expired before its commit is rolled back (its staged
keys are deleted), one still ``staging`` belongs to a live writer and is left alone. Readers may
see a committed write half applied only until that roll-forward.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from echosafe_guard.exceptions import StoreError

__all__ = ["LEASE_MS", "RecoveryReport", "TxnKeys", "recover", "write_all_or_nothing"]

LEASE_MS = 60_000
"""How long an uncommitted transaction lives without a sign of life from its writer."""

_STAGING = b"staging"
_FINAL = "i"

log = logging.getLogger("echosafe_guard.redis")


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


@dataclass(frozen=True)
class TxnKeys:
    """The key names of one store namespace ``base`` and of its transaction ``txid``."""

    base: str
    txid: str = ""

    @property
    def registry(self) -> str:
        return f"{self.base}:txns"

    @property
    def tenants(self) -> str:
        return f"{self.base}:tenants"

    @property
    def state(self) -> str:
        return f"{self.base}:txn:{self.txid}"

    def staged(self, suffix: str) -> str:
        return f"{self.base}:stage:{self.txid}:{suffix}"

    def final(self, suffix: str) -> str:
        """The document's key; ``suffix`` is ``{tenant tag}:{id}``."""
        return f"{self.base}:{_FINAL}:{suffix}"

    @property
    def staged_pattern(self) -> str:
        return f"{_glob_escape(self.base)}:stage:{_glob_escape(self.txid)}:*"

    def of(self, txid: str) -> TxnKeys:
        return TxnKeys(self.base, txid)


@dataclass(frozen=True)
class RecoveryReport:
    rolled_forward: int = 0
    rolled_back: int = 0
    left_alone: int = 0


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write_all_or_nothing(
    client: Any,
    base: str,
    docs: Mapping[str, Any],
    tenants: Sequence[str],
    encode: Callable[[Any], Mapping[str, Any]],
    batch: int,
) -> None:
    """Write ``docs`` (``{tenant tag}:{id}`` → record, encoded by ``encode`` as it is staged)
    all or nothing, ``batch`` documents a round trip. Raises ``StoreError`` (or the client's
    error) when nothing was committed; an error after the commit leaves the write to
    :func:`recover`."""
    keys = TxnKeys(base, uuid.uuid4().hex)
    suffixes = list(docs)
    try:
        for n, chunk in enumerate(_chunks(suffixes, batch)):
            pipe = client.pipeline(transaction=False)
            if n == 0:  # the state key first: a listed transaction always has had one
                pipe.set(keys.state, _STAGING, px=LEASE_MS, nx=True)
                pipe.sadd(keys.registry, keys.txid)
            else:
                pipe.set(keys.state, _STAGING, px=LEASE_MS, xx=True)
            for suffix in chunk:
                pipe.hset(keys.staged(suffix), mapping=encode(docs[suffix]))
            if not pipe.execute()[0]:
                raise StoreError(
                    f"write of {len(suffixes)} insights: its staging lease ({LEASE_MS} ms) "
                    "expired between two batches; nothing was written"
                )
        manifest = json.dumps({"tenants": sorted(set(tenants)), "keys": suffixes})
        if not client.set(keys.state, manifest, xx=True):  # the commit point
            raise StoreError(
                f"write of {len(suffixes)} insights: its staging lease ({LEASE_MS} ms) "
                "expired before the commit; nothing was written"
            )
    except BaseException:
        _abandon(client, keys, suffixes)
        raise
    _apply(client, keys, sorted(set(tenants)), suffixes, batch)


def _abandon(client: Any, keys: TxnKeys, suffixes: Sequence[str]) -> None:
    """Best effort: remove an uncommitted transaction now (else its lease expires and
    :func:`recover` removes it)."""
    try:
        if client.get(keys.state) not in (None, _STAGING):
            return  # committed: never undo a commit (recover() finishes it)
        for chunk in _chunks(suffixes, 1000):
            client.delete(*[keys.staged(s) for s in chunk])
        pipe = client.pipeline(transaction=False)
        pipe.delete(keys.state)
        pipe.srem(keys.registry, keys.txid)
        pipe.execute()
    except Exception as exc:  # the original error is the one to report
        log.warning("could not clean up staged write %s: %s", keys.txid, exc)


def _apply(
    client: Any, keys: TxnKeys, tenants: Sequence[str], suffixes: Sequence[str], batch: int
) -> None:
    """Move the staged documents of a committed transaction into place, then forget it.
    Idempotent: a staged key that is gone was moved already."""
    for n, chunk in enumerate(_chunks(suffixes, batch)):
        pipe = client.pipeline(transaction=False)
        if n == 0 and tenants:
            pipe.sadd(keys.tenants, *tenants)
        for suffix in chunk:
            pipe.rename(keys.staged(suffix), keys.final(suffix))
        for reply in pipe.execute(raise_on_error=False):
            if isinstance(reply, Exception) and "no such key" not in str(reply).lower():
                raise reply
    pipe = client.pipeline(transaction=False)
    pipe.delete(keys.state)
    pipe.srem(keys.registry, keys.txid)
    pipe.execute()


def _manifest(raw: bytes | str) -> tuple[list[str], list[str]]:
    data = json.loads(raw)
    tenants, suffixes = data["tenants"], data["keys"]
    if not all(isinstance(x, str) for x in [*tenants, *suffixes]):
        raise TypeError("tenants and keys must be strings")
    return list(tenants), list(suffixes)


def recover(client: Any, base: str, batch: int) -> RecoveryReport:
    """Finish or undo the writes of several documents that their writer left unfinished."""
    ns = TxnKeys(base)
    forward = back = alone = 0
    for raw_id in client.smembers(ns.registry):
        keys = ns.of(raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id))
        state = client.get(keys.state)
        if state == _STAGING:
            alone += 1
            continue
        if state is None:  # the lease expired before a commit (or the writer just finished)
            staged: list[Any] = []
            for key in client.scan_iter(match=keys.staged_pattern, count=1000):
                staged.append(key)
            for start in range(0, len(staged), 1000):
                client.delete(*staged[start : start + 1000])
            client.srem(keys.registry, keys.txid)
            if staged:
                log.warning(
                    "rolled back an uncommitted write %s (%d staged insights)",
                    keys.txid,
                    len(staged),
                )
                back += 1
            continue
        try:
            tenants, suffixes = _manifest(state)
        except (ValueError, KeyError, TypeError) as exc:
            log.error("%s: unreadable write manifest, left as it is: %s", keys.state, exc)
            alone += 1
            continue
        _apply(client, keys, tenants, suffixes, batch)
        log.warning("rolled forward a committed write %s (%d insights)", keys.txid, len(suffixes))
        forward += 1
    return RecoveryReport(rolled_forward=forward, rolled_back=back, left_alone=alone)
