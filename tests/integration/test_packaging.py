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

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import importlib.util, json, echosafe_guard, echosafe_guard.integrations as integ
from echosafe_guard.policy.loader import builtin_policy_names, load_policy
from echosafe_guard.paired import read_paired_jsonl
print(json.dumps({
    "package": echosafe_guard.__file__,
    "integrations": integ.__file__,
    "top_level_integrations": importlib.util.find_spec("integrations") is not None,
    "top_level_policies": importlib.util.find_spec("policies") is not None,
    "policies": builtin_policy_names(),
    "default_policy": load_policy().name,
    "builtin_items": len(read_paired_jsonl("builtin")[1]),
    "heldout_items": len(read_paired_jsonl("heldout")[1]),
    "heldout2_items": len(read_paired_jsonl("heldout2")[1]),
    "heldout3_items": len(read_paired_jsonl("heldout3")[1]),
    "heldout4_items": len(read_paired_jsonl("heldout4")[1]),
    "heldout5_items": len(read_paired_jsonl("heldout5")[1]),
    "heldout6_items": len(read_paired_jsonl("heldout6")[1]),
    "heldout7_items": len(read_paired_jsonl("heldout7")[1]),
    "heldout8_items": len(read_paired_jsonl("heldout8")[1]),
    "heldout9_items": len(read_paired_jsonl("heldout9")[1]),
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
    assert got["builtin_items"] == 312
    assert got["heldout_items"] == 144
    assert got["heldout2_items"] == 120
    assert got["heldout3_items"] == 120
    assert got["heldout4_items"] == 120
    assert got["heldout5_items"] == 120
    assert got["heldout6_items"] == 120
    assert got["heldout7_items"] == 120
    assert got["heldout8_items"] == 120
    assert got["heldout9_items"] == 120


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
        "echosafe_guard/data/builtin_pairs.jsonl",
        "echosafe_guard/data/heldout_twins.jsonl",
        "echosafe_guard/data/heldout2_twins.jsonl",
        "echosafe_guard/data/heldout3_twins.jsonl",
        "echosafe_guard/data/heldout4_twins.jsonl",
        "echosafe_guard/data/heldout5_twins.jsonl",
        "echosafe_guard/data/heldout6_twins.jsonl",
        "echosafe_guard/data/heldout7_twins.jsonl",
        "echosafe_guard/data/heldout8_twins.jsonl",
        "echosafe_guard/data/heldout9_twins.jsonl",
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
    assert got["heldout3_items"] == 120
    assert got["heldout4_items"] == 120
    assert got["heldout5_items"] == 120
    assert got["heldout6_items"] == 120
    assert got["heldout7_items"] == 120
    assert got["heldout8_items"] == 120
    assert got["heldout9_items"] == 120
