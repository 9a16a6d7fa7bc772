"""`integrations/` and `policies/` install inside the package (editable installs and wheels)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from echosafe_guard.paired import BUNDLED

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# Items per bundled paired set, written out: a set missing from the package, or one that lost or
# gained items, fails the comparison.
ITEMS = {
    "builtin": 312,
    "heldout": 144,
    **{f"heldout{n}": 120 for n in range(2, 31)},
    "coverage": 92,
}

PROBE = """
import importlib.util, json, echosafe_guard, echosafe_guard.integrations as integ
from echosafe_guard.policy.loader import builtin_policy_names, load_policy
from echosafe_guard.paired import BUNDLED, read_paired_jsonl
print(json.dumps({
    "package": echosafe_guard.__file__,
    "integrations": integ.__file__,
    "top_level_integrations": importlib.util.find_spec("integrations") is not None,
    "top_level_policies": importlib.util.find_spec("policies") is not None,
    "policies": builtin_policy_names(),
    "default_policy": load_policy().name,
    "items": {name: len(read_paired_jsonl(name)[1]) for name in BUNDLED},
}))
"""


def probe(cwd: Path, extra_path: Path | None = None) -> dict[str, object]:
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    if extra_path is not None:
        env["PYTHONPATH"] = str(extra_path)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_package_list_names_every_package_directory() -> None:
    """``[tool.setuptools] packages`` is explicit: a new subpackage must be added to it."""
    listed = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    roots = {
        "echosafe_guard": REPO / "echosafe_guard",
        "echosafe_guard.integrations": REPO / "integrations",
    }
    found = {"echosafe_guard.policies"}  # data only: policies/*.yaml
    for name, root in roots.items():
        for init in root.rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                found.add(".".join([name, *init.parent.relative_to(root).parts]))
    assert set(listed["packages"]) == found


def test_installed_editable_maps_integrations_inside_the_package(tmp_path: Path) -> None:
    editable = any(
        json.loads(d.read_text("direct_url.json") or "{}").get("dir_info", {}).get("editable")
        for d in metadata.distributions(name="echosafe-guard")
    )
    if not editable:
        pytest.skip("echosafe-guard is not installed in editable mode here")
    got = probe(tmp_path)  # another cwd: the repository root is not on sys.path
    assert got["package"] == str(REPO / "echosafe_guard" / "__init__.py")
    assert got["integrations"] == str(REPO / "integrations" / "__init__.py")
    assert got["top_level_integrations"] is False
    assert got["top_level_policies"] is False
    assert "default" in got["policies"]  # type: ignore[operator]
    assert got["items"] == ITEMS


def test_built_wheel_layout_and_import(tmp_path: Path) -> None:
    # Build from a copy: setuptools writes build/ and *.egg-info into the source tree.
    src = tmp_path / "src"
    shutil.copytree(
        REPO,
        src,
        ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__"),
    )
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(src),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            "-q",
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("echosafe_guard-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for required in (
        "echosafe_guard/integrations/__init__.py",
        "echosafe_guard/policies/default.yaml",
        *(f"echosafe_guard/data/{file}" for file in BUNDLED.values()),
        "echosafe_guard/py.typed",
    ):
        assert required in names
    # Every module of the source tree is in the wheel (the package list is explicit).
    sources = {
        "echosafe_guard/" + str(p.relative_to(REPO / "echosafe_guard"))
        for p in (REPO / "echosafe_guard").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    sources |= {
        "echosafe_guard/integrations/" + str(p.relative_to(REPO / "integrations"))
        for p in (REPO / "integrations").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert sources - set(names) == set()
    roots = {n.split("/")[0] for n in names}
    assert roots == {
        "echosafe_guard",
        wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info",
    }
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert (
        "echosafe-guard = echosafe_guard.cli.app:main"
        in zipfile.ZipFile(wheel).read(entry).decode()
    )
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
            "-q",
        ],
        check=True,
        capture_output=True,
    )
    got = probe(tmp_path, target)
    assert got["package"] == str(target / "echosafe_guard" / "__init__.py")
    assert got["integrations"] == str(target / "echosafe_guard" / "integrations" / "__init__.py")
    assert got["top_level_integrations"] is False
    assert got["default_policy"] == "default"
    assert got["items"] == ITEMS
