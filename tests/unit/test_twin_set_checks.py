"""The shared held-out set checks (``tests/twin_set_checks.py``) fail on a broken set.

Each case copies ``heldout4`` to a file, breaks one thing, and expects the matching check to
raise; the untouched copy passes them all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from echosafe_guard.paired import builtin_path, read_paired_jsonl
from tests import twin_set_checks as checks
from tests.unit.test_heldout4_twins import STYLES

Row = dict[str, Any]


def write(tmp_path: Path, rows: list[Row]) -> Path:
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return path


def rows() -> list[Row]:
    text = builtin_path("heldout4").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_all(path: Path) -> None:
    checks.check_balanced_pairs(path, prefix="heldout4", n_pairs=60, per_category=10)
    checks.check_twins_share_kind(path, STYLES, per_style=10)
    checks.check_genocr_fields(path, insight=True)
    checks.check_alarm_words_field(path)
    checks.check_sex_items_not_explicit(path)
    checks.check_no_shared_ids(path, ["builtin"])
    checks.check_no_shared_texts(path, ["builtin"])
    checks.check_no_shared_grams(path, ["builtin"])


def test_an_intact_copy_passes_every_check(tmp_path: Path) -> None:
    run_all(write(tmp_path, rows()))


def _drop_item(rs: list[Row]) -> None:
    rs.pop()


def _restyle_one_twin(rs: list[Row]) -> None:
    rs[1]["style"] = "urgent_now" if rs[1]["style"] != "urgent_now" else "verify_claim"


def _key_phrase_left_in_ocr(rs: list[Row]) -> None:
    rs[0]["ocr_text"] = rs[0]["text"]


def _wrong_guidance_prefix(rs: list[Row]) -> None:
    rs[0]["guidance"] = "Help fully: a wrong prefix for an unsafe item."


def _alarm_words_by_hand(rs: list[Row]) -> None:
    rs[0]["alarm_words"] = ["hand-written"]


def _explicit_word(rs: list[Row]) -> None:
    sex = next(r for r in rs if r["category"] == "sex")
    sex["scenario"] = f"{sex['scenario']} explicit"


def _builtin_pair_id(rs: list[Row]) -> None:
    other = read_paired_jsonl("builtin")[1][0]
    rs[0]["id"] = other.id


def _builtin_text(rs: list[Row]) -> None:
    rs[0]["text"] = read_paired_jsonl("builtin")[1][0].text


def _builtin_eight_words(rs: list[Row]) -> None:
    other = read_paired_jsonl("builtin")[1][0].text
    rs[0]["text"] = f"{rs[0]['text']} {other}"


@pytest.mark.parametrize(
    ("damage", "check"),
    [
        (_drop_item, lambda p: checks.check_balanced_pairs(p, "heldout4", 60, 10)),
        (_restyle_one_twin, lambda p: checks.check_twins_share_kind(p, STYLES, 10)),
        (_key_phrase_left_in_ocr, lambda p: checks.check_genocr_fields(p, insight=True)),
        (_wrong_guidance_prefix, lambda p: checks.check_genocr_fields(p, insight=True)),
        (_alarm_words_by_hand, checks.check_alarm_words_field),
        (_explicit_word, checks.check_sex_items_not_explicit),
        (_builtin_pair_id, lambda p: checks.check_no_shared_ids(p, ["builtin"])),
        (_builtin_text, lambda p: checks.check_no_shared_texts(p, ["builtin"])),
        (_builtin_eight_words, lambda p: checks.check_no_shared_grams(p, ["builtin"])),
    ],
)
def test_a_broken_copy_fails_its_check(
    tmp_path: Path, damage: Callable[[list[Row]], None], check: Callable[[Path], None]
) -> None:
    broken = rows()
    damage(broken)
    with pytest.raises(AssertionError):
        check(write(tmp_path, broken))


def test_a_set_without_insight_fails_the_no_insight_check(tmp_path: Path) -> None:
    with pytest.raises(AssertionError):
        checks.check_genocr_fields(write(tmp_path, rows()), insight=False)
