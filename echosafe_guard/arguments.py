"""Checks of the public API's arguments and of files named by the user: a typed error, never a
``TypeError``, ``UnicodeEncodeError`` or an unbounded read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from echosafe_guard.exceptions import InputError, InputTooLargeError
from echosafe_guard.policy.models import Mode

__all__ = ["MAX_TENANT", "check_mode", "check_tenant", "check_text", "read_capped"]

MAX_TENANT = 128


def check_text(text: str, where: str) -> str:
    """``text`` when it is valid Unicode (a lone surrogate cannot be encoded, nor embedded)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"{where}: text is not valid Unicode ({exc.reason})") from exc
    return text


def check_tenant(tenant: Any) -> str:
    """A tenant name: a string of 1 to 128 printable characters."""
    if not isinstance(tenant, str):
        raise InputError(f"tenant must be a string, got {type(tenant).__name__}")
    if not tenant or len(tenant) > MAX_TENANT:
        raise InputError(f"tenant must have 1 to {MAX_TENANT} characters, got {len(tenant)}")
    check_text(tenant, "tenant")
    if not tenant.isprintable():
        raise InputError(f"tenant {tenant!r} has control characters")
    return tenant


def check_mode(mode: Any) -> Mode | None:
    """``None`` (the policy's mode) or one of ``advise``, ``enforce``, ``shadow``."""
    if mode is None or isinstance(mode, Mode):
        return mode
    try:
        return Mode(mode)
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"mode must be one of {', '.join(m.value for m in Mode)}, got {mode!r}"
        ) from exc


def read_capped(path: Path, cap: int) -> bytes:
    """At most ``cap`` bytes of ``path``, whatever its size claims (``/dev/zero`` says 0);
    :class:`InputTooLargeError` past the cap, :class:`InputError` for anything but a regular file
    (a device or a pipe could be endless). ``OSError`` is the caller's to wrap."""
    if path.exists() and not path.is_file():
        raise InputError(f"{path}: not a regular file")
    with path.open("rb") as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise InputTooLargeError(f"{path}: larger than {cap} bytes")
    return data
