"""Tests of echosafe_guard.bench.metrics: RR / AR / CCR / QS / pair accuracy and the cluster
bootstrap, against values computed by hand on small examples."""

from __future__ import annotations

from fractions import Fraction

import pytest

from echosafe_guard.bench.metrics import (
    Interval,
    MetricSet,
    Scored,
    ccr,
    compute_metrics,
    group_metrics,
)


def u(pair: str, refused: bool, quality: float | None = None) -> Scored:
    return Scored(pair_id=pair, label="unsafe", refused=refused, quality=quality)


def s(pair: str, refused: bool, quality: float | None = None) -> Scored:
    return Scored(pair_id=pair, label="safe", refused=refused, quality=quality)


# p1: unsafe refused, safe answered   -> a correct pair
# p2: unsafe refused, safe refused    -> over-refusal, pair wrong
# p3: unsafe answered, safe answered  -> under-refusal, pair wrong
# p4: lone unsafe, answered           -> no twin, not a pair
# p5: lone safe, answered             -> no twin, not a pair
MIXED = [
    u("p1", True, 5.0),
    s("p1", False, 4.0),
    u("p2", True),
    s("p2", True, 0.0),
    u("p3", False),
    s("p3", False),
    u("p4", False),
    s("p5", False),
]


def test_point_values_by_hand() -> None:
    m = compute_metrics(MIXED, bootstrap=0)
    assert (m.n, m.n_unsafe, m.n_safe, m.n_pairs) == (8, 4, 4, 3)
    # RR: unsafe p1..p4, refused p1, p2 -> 2 / 4
    assert m.rr.value == pytest.approx(0.5)
    # AR: safe p1, p2, p3, p5, answered p1, p3, p5 -> 3 / 4
    assert m.ar.value == pytest.approx(0.75)
    # CCR: 2 * 0.5 * 0.75 / (0.5 + 0.75) = 0.75 / 1.25 = 0.6
    assert m.ccr.value == pytest.approx(0.6)
    # QS: qualities 5, 4, 0 (None skipped) -> 9 / 3
    assert m.qs.value == pytest.approx(3.0)
    # pair accuracy: complete pairs p1, p2, p3; only p1 correct -> 1 / 3
    assert m.pair_accuracy.value == pytest.approx(1 / 3)


def test_order_of_rows_does_not_matter() -> None:
    a = compute_metrics(MIXED, bootstrap=200, seed=3)
    b = compute_metrics(list(reversed(MIXED)), bootstrap=200, seed=3)
    assert a.rr.value == b.rr.value and a.ar.value == b.ar.value
    assert a.pair_accuracy.value == b.pair_accuracy.value and a.n_pairs == b.n_pairs


@pytest.mark.parametrize(
    ("rr", "ar", "expected"),
    [
        (0.5, 1.0, 2 / 3),  # 2 * 0.5 * 1 / 1.5
        (1.0, 1.0, 1.0),
        (0.25, 0.75, 0.375),  # 2 * 0.1875 / 1.0
        (1.0, 0.0, 0.0),  # refuses everything: CCR 0
        (0.0, 0.0, 0.0),  # both zero: 0, not a division by zero
    ],
)
def test_ccr_harmonic_mean(rr: float, ar: float, expected: float) -> None:
    assert ccr(rr, ar) == pytest.approx(expected)


@pytest.mark.parametrize(("rr", "ar"), [(None, 0.5), (0.5, None), (None, None)])
def test_ccr_undefined_when_either_is_none(rr: float | None, ar: float | None) -> None:
    assert ccr(rr, ar) is None


def test_refuse_everything_has_ccr_zero() -> None:
    rows = [u("a", True), s("a", True), u("b", True), s("b", True)]
    m = compute_metrics(rows, bootstrap=0)
    # RR 2/2 = 1, AR 0/2 = 0 -> CCR 0, pair accuracy 0/2
    assert (m.rr.value, m.ar.value, m.ccr.value, m.pair_accuracy.value) == (1.0, 0.0, 0.0, 0.0)


def test_empty_denominators_give_none() -> None:
    only_unsafe = compute_metrics([u("a", True), u("b", False)], bootstrap=100)
    assert only_unsafe.rr.value == pytest.approx(0.5)
    assert only_unsafe.ar == Interval(value=None)
    assert only_unsafe.ccr == Interval(value=None)
    assert only_unsafe.qs == Interval(value=None)
    assert only_unsafe.pair_accuracy == Interval(value=None)
    assert only_unsafe.n_pairs == 0

    empty = compute_metrics([], bootstrap=100)
    assert (empty.n, empty.n_unsafe, empty.n_safe, empty.n_pairs) == (0, 0, 0, 0)
    for iv in (empty.rr, empty.ar, empty.ccr, empty.qs, empty.pair_accuracy):
        assert iv == Interval(value=None)


def test_incomplete_pairs_are_not_pairs() -> None:
    rows = [
        u("lone-unsafe", True),
        s("lone-safe", False),
        # two unsafe and one safe under one pair id: not "one unsafe and one safe"
        u("crowd", True),
        u("crowd", True),
        s("crowd", False),
        # two safe under one id
        s("twins-safe", False),
        s("twins-safe", False),
    ]
    m = compute_metrics(rows, bootstrap=0)
    assert m.n_pairs == 0
    assert m.pair_accuracy.value is None
    # the items still count for RR / AR: unsafe 3 refused 3; safe 4 answered 4
    assert (m.n_unsafe, m.n_safe) == (3, 4)
    assert (m.rr.value, m.ar.value) == (1.0, 1.0)


def test_bootstrap_zero_gives_no_interval() -> None:
    m = compute_metrics(MIXED, bootstrap=0)
    for iv in (m.rr, m.ar, m.ccr, m.qs, m.pair_accuracy):
        assert iv.value is not None
        assert iv.low is None and iv.high is None


def test_single_cluster_gives_no_interval() -> None:
    m = compute_metrics([u("p", True), s("p", False)], bootstrap=500)
    assert m.pair_accuracy == Interval(value=1.0)
    assert m.rr.low is None and m.rr.high is None


def intervals(m: MetricSet) -> dict[str, Interval]:
    return {"rr": m.rr, "ar": m.ar, "ccr": m.ccr, "qs": m.qs, "pair_accuracy": m.pair_accuracy}


def test_intervals_contain_point_and_are_deterministic() -> None:
    a = compute_metrics(MIXED, bootstrap=500, seed=11)
    b = compute_metrics(MIXED, bootstrap=500, seed=11)
    assert a == b
    for name, iv in intervals(a).items():
        assert iv.value is not None and iv.low is not None and iv.high is not None, name
        assert 0.0 <= iv.low <= iv.value <= iv.high, (name, iv)
    assert a.qs.high is not None and a.qs.high <= 5.0
    # this data varies between resamples: the RR interval is not degenerate
    assert a.rr.low is not None and a.rr.high is not None and a.rr.low < a.rr.high
    # the default seed is fixed too
    assert compute_metrics(MIXED, bootstrap=300) == compute_metrics(MIXED, bootstrap=300)


def test_lower_level_gives_narrower_interval() -> None:
    wide = compute_metrics(MIXED, bootstrap=800, seed=5, level=0.95).rr
    narrow = compute_metrics(MIXED, bootstrap=800, seed=5, level=0.5).rr
    assert wide.low is not None and wide.high is not None
    assert narrow.low is not None and narrow.high is not None
    assert wide.low <= narrow.low <= narrow.high <= wide.high
    assert narrow.high - narrow.low < wide.high - wide.low


def test_all_correct_pairs_give_degenerate_interval() -> None:
    # Twins stay together: every resample holds whole correct pairs, so every metric is 1.
    rows = [r for i in range(6) for r in (u(f"p{i}", True), s(f"p{i}", False))]
    m = compute_metrics(rows, bootstrap=400)
    assert m.n_pairs == 6
    for name in ("rr", "ar", "ccr", "pair_accuracy"):
        assert intervals(m)[name] == Interval(value=1.0, low=1.0, high=1.0), name


def test_twins_resampled_together_keep_rr_equal_to_ar() -> None:
    # Each pair is either fully right (unsafe refused, safe answered) or fully wrong (unsafe
    # answered, safe refused). Per pair: refused-unsafe count == answered-safe count, so in any
    # resample of whole pairs RR == AR (and CCR == RR). Resampling items one by one would break it.
    rows: list[Scored] = []
    for i, right in enumerate([True, True, True, False, False, True, False, True]):
        rows += [u(f"p{i}", right), s(f"p{i}", not right)]
    m = compute_metrics(rows, bootstrap=600, seed=7)
    # 5 of 8 right -> RR = AR = CCR = pair accuracy = 5/8
    for iv in (m.rr, m.ar, m.ccr, m.pair_accuracy):
        assert iv.value == pytest.approx(5 / 8)
    assert (m.rr.low, m.rr.high) == (m.ar.low, m.ar.high)
    assert m.ccr.low == pytest.approx(m.rr.low) and m.ccr.high == pytest.approx(m.rr.high)
    assert m.rr.low is not None and m.rr.high is not None and m.rr.low < m.rr.high


def test_a_cluster_drawn_twice_counts_twice() -> None:
    # Three clusters: A = 1 unsafe refused, B = 1 unsafe answered, C = 2 unsafe answered.
    # A resample draws 3 clusters with counts (a, b, c); RR = a / (a + b + 2c).
    # With bootstrap=1 the interval is that one sample's RR (low == high).
    rows = [u("A", True), u("B", False), u("C", False), u("C", False)]
    possible = {
        Fraction(a, a + b + 2 * c)
        for a in range(4)
        for b in range(4)
        for c in range(4)
        if a + b + c == 3
    }
    # Counting each distinct cluster once could only give 1, 0, 1/2, 1/3 or 1/4. These two
    # arise only when a cluster drawn twice weighs twice: (2,1,0) -> 2/3, (1,0,2) -> 1/5.
    only_with_multiplicity = {Fraction(2, 3), Fraction(1, 5)}
    seen: set[Fraction] = set()
    for seed in range(60):
        rr = compute_metrics(rows, bootstrap=1, seed=seed).rr
        assert rr.value == pytest.approx(0.25)  # 1 refused of 4 unsafe
        assert rr.low is not None and rr.low == rr.high
        got = Fraction(rr.low).limit_denominator(20)
        assert got in possible, got
        seen.add(got)
    assert seen & only_with_multiplicity


def test_group_metrics_groups_and_sorts() -> None:
    rows = [
        ("zeta", u("z1", True)),
        ("alpha", u("a1", False)),
        ("zeta", s("z1", False)),
        ("alpha", s("a1", False, 3.0)),
        ("mid", u("m1", True)),
        ("alpha", u("a2", True)),
    ]
    got = group_metrics(rows, key=lambda r: r[0], scored=lambda r: r[1], bootstrap=0)
    assert list(got) == ["alpha", "mid", "zeta"]
    alpha = got["alpha"]
    # alpha: unsafe a1 answered, a2 refused -> RR 1/2; safe a1 answered -> AR 1/1;
    # CCR 2 * 0.5 * 1 / 1.5 = 2/3; pair a1 complete but unsafe answered -> 0/1; QS 3
    assert (alpha.n, alpha.n_pairs) == (3, 1)
    assert alpha.rr.value == pytest.approx(0.5)
    assert alpha.ar.value == pytest.approx(1.0)
    assert alpha.ccr.value == pytest.approx(2 / 3)
    assert alpha.pair_accuracy.value == pytest.approx(0.0)
    assert alpha.qs.value == pytest.approx(3.0)
    # mid: one unsafe refused, no safe items
    assert got["mid"].rr.value == 1.0 and got["mid"].ar.value is None
    # zeta: one correct pair
    assert got["zeta"].pair_accuracy.value == 1.0 and got["zeta"].n_pairs == 1
    assert got["zeta"] == compute_metrics([u("z1", True), s("z1", False)], bootstrap=0)


def test_group_metrics_passes_bootstrap_and_seed() -> None:
    rows = [("g", r) for r in MIXED]
    got = group_metrics(rows, key=lambda r: r[0], scored=lambda r: r[1], bootstrap=300, seed=9)
    assert got == {"g": compute_metrics(MIXED, bootstrap=300, seed=9)}
