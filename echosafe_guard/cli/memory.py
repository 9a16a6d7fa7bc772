"""``echosafe-guard memory``: seed, list, count, export and import insights."""

from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from echosafe_guard.arguments import read_capped
from echosafe_guard.cli.audit import cli_observe, removal_events
from echosafe_guard.cli.common import (
    JsonOpt,
    NoImagesOpt,
    PolicyOpt,
    StoreOpt,
    TenantOpt,
    TextModelOpt,
    build_guard,
    console,
    emit_json,
    handle_errors,
    tenant_arg,
)
from echosafe_guard.cli.loading import (
    BUNDLED_NAMES,
    FormatOpt,
    MapOpt,
    MissingImagesOpt,
    OnBadRowOpt,
    load_source,
    print_load_report,
)
from echosafe_guard.exceptions import DataFormatError
from echosafe_guard.learning.events import LearningEvent
from echosafe_guard.learning.events import LearningEventKind as Ev
from echosafe_guard.learning.hygiene import Hygiene
from echosafe_guard.learning.sanitize import sanitize_insight
from echosafe_guard.memory.insight import Insight, InsightStatus, Provenance, ProvenanceSource
from echosafe_guard.paired import DEFAULT_MEMORY_SETS, MAX_FILE_BYTES
from echosafe_guard.seeding import seed_items

__all__ = ["memory_app"]

log = logging.getLogger("echosafe_guard.cli")
memory_app = typer.Typer(help="Manage the insight memory.", no_args_is_help=True)

AllTenantsOpt = Annotated[
    str | None,
    typer.Option("--tenant", help="Only this tenant (default: every tenant).", callback=tenant_arg),
]


@memory_app.command()
def seed(
    source: Annotated[
        str,
        typer.Argument(
            help=(
                "Bench file/folder in any --format, 'default' (the default memory: "
                f"{', '.join(DEFAULT_MEMORY_SETS)}), {BUNDLED_NAMES}, or hf:OWNER/NAME."
            )
        ),
    ],
    fmt: FormatOpt = None,
    mapping: MapOpt = None,
    on_bad_row: OnBadRowOpt = "skip",
    missing_images: MissingImagesOpt = "fail",
    store: StoreOpt = None,
    tenant: TenantOpt = "default",
    policy: PolicyOpt = None,
    text_model: TextModelOpt = None,
    no_images: NoImagesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """One insight per labelled item (provenance 'seed'); identical items merge.

    A category the policy's taxonomy cannot resolve is seeded under 'other', with a warning."""
    with (
        handle_errors(as_json),
        build_guard(
            store=store, policy=policy, text_model=text_model, no_images=no_images
        ) as guard,
    ):
        taxonomy = guard.policy.taxonomy
        loaded = load_source(
            source,
            fmt=fmt,
            mapping=mapping,
            taxonomy=taxonomy,
            on_bad_row=on_bad_row,
            missing_images=missing_images,
        )
        if not as_json:
            print_load_report(loaded, taxonomy, seeding=True)
        report = seed_items(guard, loaded.items, base=loaded.base, tenant=tenant, source=source)
        out = {
            **report.__dict__,
            "store": guard.store.location,
            "format": loaded.name,
            "skipped": len(loaded.skipped),
        }
        if as_json:
            emit_json(out)
        else:
            console.print(
                f"seeded {report.insights} insights from {report.items} items "
                f"({report.merged} merged) into {guard.store.location} (tenant {tenant})"
            )


@memory_app.command("ls")
def ls(
    store: StoreOpt = None,
    tenant: AllTenantsOpt = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """List insights (without vectors)."""
    with handle_errors(as_json), build_guard(store=store, policy=None) as guard:
        rows = []
        for n, ins in enumerate(guard.store.iter_insights(tenant)):
            if n >= limit:
                break
            rows.append(ins)
        if as_json:
            for ins in rows:
                emit_json(ins.to_json_dict(with_vector=False))
            return
        table = Table("tenant", "id", "verdict", "category", "support", "status", "scenario")
        for i in rows:
            table.add_row(
                i.tenant,
                i.id,
                i.verdict.value,
                i.category,
                str(i.support),
                i.status.value,
                i.scenario,
            )
        console.print(table)


@memory_app.command()
def stats(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Counts by tenant, verdict, category and status."""
    with handle_errors(as_json), build_guard(store=store, policy=None) as guard:
        st = guard.store.stats()
        if as_json:
            emit_json(st.model_dump())
        else:
            for key, val in st.model_dump().items():
                console.print(f"[bold]{key}[/]: {val}", highlight=False)


@memory_app.command()
def export(
    out: Annotated[Path | None, typer.Argument(help="Output JSONL file (default: stdout).")] = None,
    store: StoreOpt = None,
    tenant: AllTenantsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write insights with their vectors as JSONL (one insight per line)."""
    with handle_errors(as_json), build_guard(store=store, policy=None) as guard:
        n = 0
        fh = open(out, "w", encoding="utf-8") if out else sys.stdout  # noqa: SIM115
        try:
            for ins in guard.store.iter_insights(tenant, with_vector=True):
                fh.write(json.dumps(ins.to_json_dict()) + "\n")
                n += 1
        finally:
            if out:
                fh.close()
        if out:
            summary = {"exported": n, "file": str(out)}
            emit_json(summary) if as_json else console.print(f"exported {n} insights to {out}")


def _read_export(path: Path, tenant: str | None) -> list[Insight]:
    try:
        lines = read_capped(path, MAX_FILE_BYTES).decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: cannot be read: {exc}") from exc
    out = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data: dict[str, Any] = json.loads(line)
            ins = Insight.model_validate(data)
        except (json.JSONDecodeError, ValidationError, TypeError) as exc:
            raise DataFormatError(f"{path}:{n}: not an insight record: {exc}") from exc
        if ins.vector is None:
            raise DataFormatError(f"{path}:{n}: insight {ins.id!r} has no vector")
        prov = ins.provenance
        ref = f"{prov.source.value}:{prov.ref or ''} via {path.name}"[:300]
        update: dict[str, Any] = {
            "provenance": Provenance(
                source=ProvenanceSource.IMPORT, request_hashes=prov.request_hashes, ref=ref
            )
        }
        if tenant:
            update["tenant"] = tenant
        try:
            ins, reason = sanitize_insight(ins.model_copy(update=update))
        except ValueError as exc:
            raise DataFormatError(f"{path}:{n}: {exc}") from exc
        if reason:
            log.warning(
                "%s:%d: imported quarantined, its text addresses the model (%s)", path, n, reason
            )
        out.append(ins)
    return out


@memory_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="JSONL written by 'memory export'.")],
    store: StoreOpt = None,
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="Import into this tenant.", callback=tenant_arg),
    ] = None,
    text_model: TextModelOpt = None,
    no_images: NoImagesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Import insights (provenance 'import'); the key layout must match the store's."""
    with (
        handle_errors(as_json),
        build_guard(store=store, policy=None, text_model=text_model, no_images=no_images) as guard,
    ):
        insights = _read_export(file, tenant)  # validate the whole file before writing anything
        guard.bound_store().upsert(insights)
        summary = {"imported": len(insights), "store": guard.store.location}
        emit_json(summary) if as_json else console.print(f"imported {len(insights)} insights")


@memory_app.command()
def reindex(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Rebuild the store's vector index with this version's schema (Redis), keeping the data."""
    with handle_errors(as_json), build_guard(store=store, policy=None) as guard:
        st = guard.store
        out: dict[str, Any] = {"store": st.location, "reindexed": st.capabilities.reindex}
        if st.capabilities.reindex:
            out |= st.reindex().model_dump()
        else:
            out["detail"] = "this store keeps its index in memory: nothing to do"
        emit_json(out) if as_json else console.print(out, highlight=False)


@memory_app.command()
def review(
    store: StoreOpt = None,
    tenant: TenantOpt = "default",
    approve: Annotated[list[str] | None, typer.Option("--approve", help="Insight id.")] = None,
    reject: Annotated[list[str] | None, typer.Option("--reject", help="Insight id.")] = None,
    by: Annotated[str, typer.Option("--by", help="Reviewer name, kept in provenance.")] = "cli",
    as_json: JsonOpt = False,
) -> None:
    """List quarantined insights; approve (make retrievable) or reject them."""
    with handle_errors(as_json), build_guard(store=store, policy=None) as guard:
        st = guard.store
        decided: list[Insight] = []
        for ids, status in (
            (approve or [], InsightStatus.ACTIVE),
            (reject or [], InsightStatus.REJECTED),
        ):
            for iid in ids:
                ins = st.get(tenant, iid, with_vector=True)
                if ins is None:
                    raise DataFormatError(f"no insight {iid!r} in tenant {tenant!r}")
                prov = ins.provenance.model_copy(update={"reviewed_by": by})
                decided.append(ins.model_copy(update={"status": status, "provenance": prov}))
        if decided:
            st.upsert(decided)
            with cli_observe(guard) as obs:
                for i in decided:
                    kind = Ev.APPROVED if i.status is InsightStatus.ACTIVE else Ev.REJECTED
                    if obs is not None:
                        obs.learning_event(LearningEvent(kind, tenant, i.id, attrs={"by": by}))
        waiting = [i for i in st.iter_insights(tenant) if i.status is InsightStatus.QUARANTINED]
        if as_json:
            emit_json(
                {
                    "decided": [{"id": i.id, "status": i.status.value} for i in decided],
                    "quarantined": [
                        i.to_json_dict(with_vector=False)
                        | {"supporters": len(i.provenance.supporters)}
                        for i in waiting
                    ],
                }
            )
            return
        for i in decided:
            console.print(f"{i.id}: {i.status.value}")
        table = Table("id", "verdict", "category", "supporters", "support", "scenario")
        for i in waiting:
            table.add_row(
                i.id,
                i.verdict.value,
                i.category,
                str(len(i.provenance.supporters)),
                str(i.support),
                i.scenario,
            )
        console.print(table)


@memory_app.command()
def prune(
    store: StoreOpt = None,
    tenant: AllTenantsOpt = None,
    policy: PolicyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply the policy's TTL and per-tenant capacity to learnt insights now."""
    with handle_errors(as_json), build_guard(store=store, policy=policy) as guard:
        hygiene = Hygiene(guard.policy, guard.store)
        with cli_observe(guard) as obs:
            if obs is not None:
                hygiene.on_removed = functools.partial(removal_events, obs)
            report = {t: hygiene.prune(t) for t in ([tenant] if tenant else guard.store.tenants())}
        emit_json(report) if as_json else console.print(report, highlight=False)
