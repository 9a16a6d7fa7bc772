"""The import direction of ARCHITECTURE.md, read from the source with ``ast`` (no import runs).

- the core (``echosafe_guard`` less ``bench/`` and ``cli/``) imports neither ``bench`` nor
  ``integrations``; ``cli`` may import ``bench``, ``bench`` may import the core;
- ``memory`` never imports ``retrieval`` (retrieval reads the store, not the other way);
- no module imports a private name (``from x import _y``) of another project module.

Every import counts, also those inside functions or under ``TYPE_CHECKING``: a lazy import is
still a dependency. A package that does not exist yet is simply never violated.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "echosafe_guard"
SOURCES = {PACKAGE: ROOT / "echosafe_guard", f"{PACKAGE}.integrations": ROOT / "integrations"}

# (importing module, "module:name") pairs that break the private-name rule today, in files owned
# by another change of this round; remove an entry when its import is gone (a test below fails
# when an entry is stale, so the list only shrinks).
PRIVATE_ALLOWED: set[tuple[str, str]] = set()


def module_name(base: str, root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([base, *parts])


def modules() -> Iterator[tuple[str, Path]]:
    for base, root in SOURCES.items():
        for path in sorted(root.rglob("*.py")):
            yield module_name(base, root, path), path


def imports(name: str, path: Path) -> Iterator[tuple[str, str | None]]:
    """``(module, imported name or None)`` for every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            for alias in node.names:
                yield target, alias.name


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def room(module: str) -> str:
    for sub in ("bench", "cli", "integrations", "memory", "retrieval"):
        if within(module, f"{PACKAGE}.{sub}"):
            return sub
    return "core"


FORBIDDEN = {
    # importer room -> packages it must not import
    "core": (f"{PACKAGE}.bench", f"{PACKAGE}.integrations", "integrations"),
    "memory": (f"{PACKAGE}.bench", f"{PACKAGE}.integrations", f"{PACKAGE}.retrieval"),
    "retrieval": (f"{PACKAGE}.bench", f"{PACKAGE}.integrations"),
}


def direction_violations() -> list[str]:
    found = []
    for name, path in modules():
        banned = FORBIDDEN.get(room(name), ())
        for target, _ in imports(name, path):
            hit = [b for b in banned if within(target, b)]
            if hit:
                found.append(f"{name} ({path.relative_to(ROOT)}) imports {target}")
    return found


def private_imports() -> set[tuple[str, str]]:
    found = set()
    for name, path in modules():
        for target, imported in imports(name, path):
            if imported is None or not within(target, PACKAGE) or target == name:
                continue
            if imported.startswith("_") and not imported.startswith("__"):
                found.add((name, f"{target}:{imported}"))
    return found


def test_the_scan_sees_the_tree() -> None:
    names = {name for name, _ in modules()}
    assert {f"{PACKAGE}.guard", f"{PACKAGE}.memory", f"{PACKAGE}.bench.runner"} <= names
    assert f"{PACKAGE}.integrations.litellm.sdk" in names
    edges = {t for n, p in modules() if n == f"{PACKAGE}.bench.runner" for t, _ in imports(n, p)}
    assert f"{PACKAGE}.paired" in edges  # bench -> core is the allowed direction


def test_core_never_imports_bench_or_integrations_and_memory_never_retrieval() -> None:
    assert direction_violations() == []


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f():\n    from echosafe_guard.bench.paired import PairedItem\n"
        "from ..retrieval import decide\nfrom echosafe_guard.x import _hidden\n"
    )
    got = list(imports(f"{PACKAGE}.memory.local.bad", bad))
    assert (f"{PACKAGE}.bench.paired", "PairedItem") in got
    assert (f"{PACKAGE}.memory.retrieval", "decide") in got  # level 2 from memory.local
    assert (f"{PACKAGE}.x", "_hidden") in got
    assert room(f"{PACKAGE}.memory.local.bad") == "memory"
    assert room(f"{PACKAGE}.seeding") == "core"
    assert room(f"{PACKAGE}.cli.bench") == "cli"


def test_no_module_imports_a_private_name_of_another() -> None:
    assert private_imports() - PRIVATE_ALLOWED == set()


def test_the_private_allow_list_has_no_stale_entry() -> None:
    assert PRIVATE_ALLOWED - private_imports() == set()
