"""Loading policies: YAML through ``yaml.safe_load`` semantics, duplicate keys refused, pydantic."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from echosafe_guard.exceptions import PolicyError
from echosafe_guard.policy.models import Policy

__all__ = ["builtin_policy_names", "load_policy", "parse_policy"]

MAX_POLICY_BYTES = 1024 * 1024


class _UniqueKeyLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses a mapping with the same key twice (YAML allows it silently)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark
            )
        seen[key] = key_node
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _format_validation(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def parse_policy(text: str, *, source: str = "<string>") -> Policy:
    """Parse and validate a policy from YAML text."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: a policy must be a YAML mapping, got {type(data).__name__}")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"{source}: invalid policy:\n{_format_validation(exc)}") from exc


def builtin_policy_names() -> list[str]:
    """Names of the policies shipped in ``echosafe_guard.policies`` (``default``, ...)."""
    root = resources.files("echosafe_guard.policies")
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def load_policy(source: str | Path | None = None) -> Policy:
    """Load a policy: ``None`` or a builtin name (``"default"``) or a path to a YAML file."""
    if source is None or (isinstance(source, str) and source in builtin_policy_names()):
        name = source or "default"
        text = (
            resources.files("echosafe_guard.policies").joinpath(f"{name}.yaml").read_text("utf-8")
        )
        return parse_policy(text, source=f"builtin policy {name!r}")
    path = Path(source)
    try:
        if path.exists() and not path.is_file():
            raise PolicyError(f"{path}: not a regular file")
        with path.open("rb") as fh:  # never trust st_size: a device claims 0 bytes
            raw = fh.read(MAX_POLICY_BYTES + 1)
        if len(raw) > MAX_POLICY_BYTES:
            raise PolicyError(f"{path}: policy file larger than {MAX_POLICY_BYTES} bytes")
        text = raw.decode("utf-8")
    except FileNotFoundError as exc:
        raise PolicyError(
            f"{path}: no such policy file (builtin policies: {', '.join(builtin_policy_names())})"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read policy: {exc}") from exc
    return parse_policy(text, source=str(path))
