"""Shared CLI plumbing: options, building a guard, printing JSON, turning errors into exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console

from echosafe_guard.arguments import check_tenant
from echosafe_guard.exceptions import EchoSafeError, InputError
from echosafe_guard.guard import Guard
from echosafe_guard.settings import GuardSettings

__all__ = [
    "ImageModelOpt",
    "ImagePretrainedOpt",
    "JsonOpt",
    "NoImagesOpt",
    "PolicyOpt",
    "StoreOpt",
    "TenantOpt",
    "TextModelOpt",
    "build_guard",
    "console",
    "emit_json",
    "err_console",
    "fail",
    "handle_errors",
    "tenant_arg",
]

CLI_TORCH_THREADS = 1
console = Console(stderr=False, soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help="Store path or URL [env ECHOSAFE_STORE; default ./.echosafe]."),
]


def tenant_arg(value: str | None) -> str | None:
    """``--tenant`` checked up front: a bad name is one usage message and exit 2."""
    if value is None:
        return None
    try:
        return check_tenant(value)
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from exc


TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant namespace.", callback=tenant_arg)]
PolicyOpt = Annotated[
    str | None,
    typer.Option("--policy", help="Policy YAML file or builtin name [env ECHOSAFE_POLICY]."),
]
TextModelOpt = Annotated[
    str | None,
    typer.Option("--text-model", help="sentence-transformers model [env ECHOSAFE_TEXT_MODEL]."),
]
ImageModelOpt = Annotated[
    str | None,
    typer.Option("--image-model", help="open_clip model name [env ECHOSAFE_IMAGE_MODEL]."),
]
ImagePretrainedOpt = Annotated[
    str | None,
    typer.Option(
        "--image-pretrained",
        help="open_clip pretrained tag, weights file, or 'none' [env ECHOSAFE_IMAGE_PRETRAINED].",
    ),
]
NoImagesOpt = Annotated[
    bool, typer.Option("--no-images", help="Run without an image model (text-only keys).")
]


def build_guard(
    *,
    store: str | None,
    policy: str | None,
    text_model: str | None = None,
    image_model: str | None = None,
    image_pretrained: str | None = None,
    no_images: bool = False,
) -> Guard:
    pretrained: str | None = image_pretrained
    overrides: dict[str, object] = {
        "store": store,
        "policy": policy,
        "text_model": text_model,
        "image_model": image_model,
        "images": False if no_images else None,
    }
    settings = GuardSettings.from_env(**overrides)
    if settings.torch_threads is None:  # one request at a time: spare threads only contend
        settings = settings.model_copy(update={"torch_threads": CLI_TORCH_THREADS})
    if pretrained is not None:
        settings = settings.model_copy(
            update={"image_pretrained": None if pretrained.lower() == "none" else pretrained}
        )
    # One-shot commands may wait for the image model; a server never does.
    return Guard(settings=settings, keys=settings.key_builder(wait_for_image_model=True))


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def fail(message: str, *, as_json: bool, kind: str = "EchoSafeError", code: int = 2) -> None:
    if as_json:
        emit_json({"error": message, "type": kind})
    else:
        err_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


@contextmanager
def handle_errors(as_json: bool) -> Iterator[None]:
    """Typed errors become a one-line message and a non-zero exit code, never a traceback."""
    try:
        yield
    except typer.Exit:
        raise
    except InputError as exc:
        fail(str(exc), as_json=as_json, kind=type(exc).__name__, code=2)
    except EchoSafeError as exc:
        fail(str(exc), as_json=as_json, kind=type(exc).__name__, code=1)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
