from __future__ import annotations

import importlib
import pkgutil

import echosafe_guard


def modules() -> list[str]:
    names = ["echosafe_guard"]
    for info in pkgutil.walk_packages(echosafe_guard.__path__, "echosafe_guard."):
        names.append(info.name)
    return names


def test_every_all_is_sorted_unique_and_importable() -> None:
    checked = 0
    for name in modules():
        mod = importlib.import_module(name)
        exported = getattr(mod, "__all__", None)
        if exported is None:
            continue
        checked += 1
        assert list(exported) == sorted(exported), f"{name}.__all__ is not sorted"
        assert len(set(exported)) == len(exported), f"{name}.__all__ has duplicates"
        for attr in exported:
            assert hasattr(mod, attr), f"{name}.__all__ names missing {attr!r}"
    assert checked >= 20


def test_top_level_api() -> None:
    assert echosafe_guard.__version__
    for name in ("Guard", "LocalStore", "InsightStore", "EchoSafeError", "Policy", "seed_memory"):
        assert name in echosafe_guard.__all__


def test_error_tree_has_one_root() -> None:
    from echosafe_guard import exceptions

    for name in exceptions.__all__:
        cls = getattr(exceptions, name)
        assert issubclass(cls, exceptions.EchoSafeError)
        assert name in (exceptions.__doc__ or ""), f"{name} missing from the drawn tree"
