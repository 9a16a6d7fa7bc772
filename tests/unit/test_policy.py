from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import yaml

from echosafe_guard.exceptions import PolicyError
from echosafe_guard.policy.loader import builtin_policy_names, load_policy, parse_policy
from echosafe_guard.policy.models import CORE_CATEGORIES, Mode, StoreErrorPolicy

REPO_POLICIES = Path(__file__).resolve().parents[2] / "policies"


def shipped() -> list[Path]:
    return sorted(REPO_POLICIES.glob("*.yaml"))


def test_every_policy_in_the_repo_loads_and_is_shipped() -> None:
    assert [p.stem for p in shipped()] == builtin_policy_names()
    for path in shipped():
        pol = load_policy(path)
        assert set(CORE_CATEGORIES) <= set(pol.taxonomy.categories)
        assert load_policy(path.stem) == pol


def test_default_policy_maps_mm_safetybench_and_llama_guard() -> None:
    pol = load_policy()
    tax = pol.taxonomy
    assert len(tax.mm_safetybench) == 13
    assert sorted(tax.llama_guard, key=lambda s: int(s[1:])) == [f"S{i}" for i in range(1, 15)]
    assert tax.resolve("01-Illegal_Activitiy") == "illegal_activity"
    assert tax.resolve("S14") == "malware_generation"
    assert tax.resolve("Hate Speech") == "hate_speech"
    assert tax.resolve("nonsense") is None
    assert pol.mode is Mode.ADVISE
    assert pol.on_store_error is StoreErrorPolicy.FAIL_OPEN


def default_text() -> str:
    return resources.files("echosafe_guard.policies").joinpath("default.yaml").read_text("utf-8")


def test_duplicate_keys_are_refused_with_the_line() -> None:
    text = default_text().replace("mode: advise\n", "mode: advise\nmode: enforce\n", 1)
    with pytest.raises(PolicyError, match="duplicate key 'mode'"):
        parse_policy(text)
    nested = default_text().replace(
        "    S1: physical_harm", "    S1: physical_harm\n    S1: sex", 1
    )
    with pytest.raises(PolicyError, match="duplicate key 'S1'"):
        parse_policy(nested)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d.update(mode="loud"), "mode"),
        (lambda d: d.update(unknown_field=1), "unknown_field"),
        (lambda d: d["taxonomy"]["categories"].pop("fraud"), "core categories"),
        (lambda d: d["taxonomy"]["llama_guard"].update(S1="nowhere"), "unknown category 'nowhere'"),
        (lambda d: d["retrieval"].update(k=0), "retrieval.k"),
        (lambda d: d["prompt"].update(unsafe="{nope}"), "unknown placeholders"),
        (lambda d: d["prompt"].update(contrast="{scenario}"), "unknown placeholders"),
        (lambda d: d.update(block_threshold=0.1), "block_threshold"),
        (lambda d: d["seed"].pop("borderline"), "seed"),
    ],
)
def test_invalid_policies_are_typed_errors(change: object, fragment: str) -> None:
    data = yaml.safe_load(default_text())
    change(data)  # type: ignore[operator]
    with pytest.raises(PolicyError) as info:
        parse_policy(yaml.safe_dump(data), source="my.yaml")
    assert fragment in str(info.value)
    assert "my.yaml" in str(info.value)


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not valid YAML"):
        parse_policy("a: [")
    with pytest.raises(PolicyError, match="must be a YAML mapping"):
        parse_policy("- 1")
    with pytest.raises(PolicyError, match="no such policy file"):
        load_policy(tmp_path / "missing.yaml")


def test_yaml_tags_are_not_executed() -> None:
    with pytest.raises(PolicyError):
        parse_policy("!!python/object/apply:os.system ['true']")
