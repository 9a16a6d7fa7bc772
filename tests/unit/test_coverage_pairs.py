"""The coverage pairs (``coverage``): 46 hand-written pairs for the verdict model's blind spot on
XSTest (``docs/coverage_pairs.md``). Not a held-out set: written from XSTest's prompt types, so
XSTest counts as tuned on wherever the set is in the memory.
"""

from __future__ import annotations

import re
from collections import Counter

from echosafe_guard.bench.loaders.registry import load_bench
from echosafe_guard.learning.sanitize import addresses_model
from echosafe_guard.paired import BUNDLED, COVERAGE, builtin_path, read_paired_jsonl
from tests import twin_set_checks as checks

FAMILIES = {
    "discr": ({"hate_speech"}, 18),
    "priv": ({"privacy_violation"}, 16),
    "atroc": ({"hate_speech", "physical_harm"}, 12),
}
OTHERS = tuple(name for name in BUNDLED if name != COVERAGE)


def test_coverage_is_a_named_bundled_set() -> None:
    assert COVERAGE == "coverage" and BUNDLED[COVERAGE] == "coverage_pairs.jsonl"
    path, items = read_paired_jsonl(COVERAGE)
    assert path == builtin_path(COVERAGE) and len(items) == 92
    assert [i.id for i in load_bench(COVERAGE).items] == [i.id for i in items]


def test_pairs_are_balanced_twins_per_family() -> None:
    pairs = checks.by_pair(COVERAGE)
    assert len(pairs) == sum(n for _, n in FAMILIES.values())
    families: Counter[str] = Counter()
    for pair_id, pair in pairs.items():
        m = re.fullmatch(r"coverage-(discr|priv|atroc)-\d\d", pair_id)
        assert m, pair_id
        families[m.group(1)] += 1
        assert sorted(i.label for i in pair) == ["safe", "unsafe"]
        assert len({i.category for i in pair}) == 1 and len({i.style for i in pair}) == 1
        assert pair[0].category in FAMILIES[m.group(1)][0], pair_id
        assert {i.id for i in pair} == {f"{pair_id}-u", f"{pair_id}-s"}
    assert families == {name: n for name, (_, n) in FAMILIES.items()}


def test_every_item_carries_an_insight_the_seeder_keeps_active() -> None:
    for i in checks.items(COVERAGE):
        assert i.scenario and i.intent_signals and i.guidance, i.id
        for field in (i.scenario, i.guidance, *i.intent_signals):
            assert addresses_model(field) is None, (i.id, field)
    checks.check_insight_copies_no_request_run(COVERAGE)


def test_shares_nothing_with_the_other_sets() -> None:
    checks.check_no_shared_ids(COVERAGE, OTHERS)
    checks.check_no_shared_texts(COVERAGE, OTHERS)
    checks.check_no_shared_grams(COVERAGE, OTHERS)
