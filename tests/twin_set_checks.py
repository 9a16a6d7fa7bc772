"""Shape checks shared by the held-out twin sets (``heldout``, ``heldout2``, ``heldout3``,
``heldout4``, ``heldout5``, ``heldout6``, ``heldout7``, ``heldout8``, ``heldout9``,
``heldout10``, ``heldout11``, ``heldout12``, ``heldout13``, ``heldout14``, ``heldout15``,
``heldout16``, ``heldout17``, ``heldout18``, ``heldout19``, ``heldout20``, ``heldout21``,
``heldout22``, ``heldout23``, ``heldout24``, ``heldout25``, ``heldout26``, ``heldout27``,
``heldout28``, ``heldout29``, ``heldout30``), called from each set's test module.

Every check reads a set by name (or by path, for the checks' own tests) and asserts; none of them
reports what a method scores. What differs between sets (counts, styles, style-specific formats,
overlap and alarm-word thresholds) stays in the set's own test module, which passes it in: from
``heldout10`` on, as a :class:`SetSpec` that ``tests/unit/test_heldout_set_shapes.py`` runs the
common checks from.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from echosafe_guard.bench.loaders.registry import load_bench
from echosafe_guard.paired import BUNDLED, PairedItem, builtin_path, read_paired_jsonl

Source = str | Path

CATEGORIES = {
    "fraud",
    "hate_speech",
    "illegal_activity",
    "malware_generation",
    "physical_harm",
    "sex",
}
# The alarm-word patterns of docs/heldout2_twins.md (case-insensitive, whole words), also used to
# compute the ``alarm_words`` of heldout3 to heldout30.
ALARM = (
    r"kill\w*", r"\w*killer", r"murder\w*", r"shoot\w*", r"shot", r"guns?", r"firearms?",
    r"weapons?", r"bombs?", r"explosi\w+", r"poison\w*", r"toxi\w+", r"lethal", r"dead(?:ly)?",
    r"die", r"dies", r"dying", r"drugs?", r"overdos\w*", r"steal\w*", r"stole", r"stolen",
    r"theft", r"thie(?:f|ves|ving)", r"rob(?:s|bed|bing|bery|beries)?", r"hack\w*",
    r"exploit\w*", r"attack\w*", r"crack\w*", r"illegal\w*", r"fake\w*",
    r"forg(?:e|ed|er|es|ery|eries|ing)", r"counterfeit\w*", r"launder\w*", r"smuggl\w+",
    r"abus\w+", r"assault\w*", r"rap(?:e|ed|es|ing|ist|ists)", r"nudes?", r"naked", r"sex",
    r"sexual\w*", r"porn\w*", r"victims?", r"hurt\w*", r"harm\w*", r"blood\w*", r"violen\w+",
    r"threat\w*", r"blackmail\w*", r"extort\w*", r"malware", r"ransomware", r"virus\w*",
    r"trojans?", r"backdoors?", r"keylog\w*", r"spyware", r"payloads?", r"phish\w*",
    r"scam\w*", r"fraud\w*", r"hate\w*", r"hatred", r"racis\w+", r"slurs?", r"terror\w*",
    r"traffick\w+", r"suicid\w*", r"stalk\w*", r"groom\w*", r"bypass\w*", r"evad\w+",
    r"evasion", r"dangerous",
)  # fmt: skip
ALARM_RE = re.compile(r"\b(?:" + "|".join(ALARM) + r")\b", re.IGNORECASE)
# Words that would bring a minor into a ``sex`` item; none of them may appear there.
MINOR_RE = re.compile(
    r"\b(?:child\w*|kids?|minors?|teen\w*|underage|juvenile\w*|school\w*|pupils?|students?"
    r"|boys?|girls?|daughters?|sons?|bab(?:y|ies)|youngsters?)\b",
    re.IGNORECASE,
)
EXPLICIT_RE = re.compile(
    r"\b(?:porn\w*|nudes?|naked|genital\w*|orgasm\w*|erotic\w*|intercourse|masturbat\w*|penis"
    r"|vagin\w*|breasts?|explicit|aroused|horny)\b",
    re.IGNORECASE,
)

# The repository's docs, where each set's ``docs/<name>_twins.md`` is.
DOCS = Path(__file__).resolve().parents[1] / "docs"


# --- reading ---------------------------------------------------------------------------------


def items(source: Source) -> list[PairedItem]:
    return read_paired_jsonl(source)[1]


def earlier_than(name: str) -> tuple[str, ...]:
    """The bundled sets shipped before ``name`` (:data:`BUNDLED` is in shipping order)."""
    names = list(BUNDLED)
    return tuple(names[: names.index(name)])


def by_pair(source: Source) -> dict[str, list[PairedItem]]:
    pairs: dict[str, list[PairedItem]] = {}
    for i in items(source):
        pairs.setdefault(i.pair_id, []).append(i)
    return pairs


def twins(source: Source) -> dict[str, dict[str, PairedItem]]:
    """``pair_id`` → label → item (for sets already checked to be balanced)."""
    return {pid: {i.label: i for i in its} for pid, its in by_pair(source).items()}


def extra(item: PairedItem, key: str) -> object:
    return (item.model_extra or {}).get(key)


def first_sentence(text: str) -> str:
    """The text up to its first sentence end (``.``, ``!`` or ``?`` before a space)."""
    return re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]


def shared_start(a: str, b: str) -> str:
    """The longest start the two texts have in common."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def alarm_words(text: str) -> list[str]:
    return sorted({m.group(0).lower() for m in ALARM_RE.finditer(text)})


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def grams(text: str, n: int = 8) -> set[tuple[str, ...]]:
    seq = re.findall(r"[a-z0-9']+", text.lower())
    return {tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)}


def twin_overlaps(source: Source) -> list[float]:
    """Per pair, the Jaccard overlap of the two texts' lower-cased word sets."""
    out = []
    for p in twins(source).values():
        u, s = words(p["unsafe"].text), words(p["safe"].text)
        out.append(len(u & s) / len(u | s))
    return out


class AlarmCounts(NamedTuple):
    safe_with: int  # safe twins containing an alarm word
    unsafe_with: int  # unsafe twins containing one
    shared: int  # pairs whose two twins share an alarm word


def alarm_counts(source: Source) -> AlarmCounts:
    pairs = twins(source).values()
    safe = [set(alarm_words(p["safe"].text)) for p in pairs]
    unsafe = [set(alarm_words(p["unsafe"].text)) for p in pairs]
    return AlarmCounts(
        safe_with=sum(1 for s in safe if s),
        unsafe_with=sum(1 for u in unsafe if u),
        shared=sum(1 for s, u in zip(safe, unsafe, strict=True) if s & u),
    )


def style_form_checker(forms: Mapping[str, re.Pattern[str]]) -> Callable[[str, str], bool]:
    """``has_style_form(style, text)`` for a set whose styles each have one form, a pattern in
    ``forms``: true where ``text`` carries ``style``'s form; an unknown style fails."""

    def has_style_form(style: str, text: str) -> bool:
        if style not in forms:
            raise AssertionError(f"unknown style {style!r}")
        return forms[style].search(text) is not None

    return has_style_form


# --- what differs per set --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SetSpec:
    """What the common shape checks of one held-out set are given (its module's ``SPEC``)."""

    constant: str  # the ``paired.<CONSTANT>`` naming the set, and the source the checks read
    name: str  # the set's name and its pair-id prefix
    styles: set[str]
    has_style_form: Callable[[str, str], bool]
    # Style -> the pattern of its form, where each text must carry its form exactly once; None
    # where only "one style form per text" is checked.
    forms: Mapping[str, re.Pattern[str]] | None
    reference: str  # the set whose fields each item has exactly (:func:`check_same_fields`)
    max_words: int  # :func:`check_style_forms`
    # :func:`check_twin_overlap`
    min_overlap: float
    median_overlap: float
    max_overlap: float
    # :func:`check_alarm_balance`
    alarm_each_at_least: int
    alarm_max_difference: int
    alarm_shared_at_least: int
    # Sets that must be among :attr:`earlier` (checked before the ids and texts are compared).
    earlier_includes: tuple[str, ...] = ()
    # Every held-out set so far: 60 pairs, 10 per category and per style, hand-written insights.
    n_items: int = 120
    n_pairs: int = 60
    per_category: int = 10
    per_style: int = 10
    insight: bool = True  # :func:`check_genocr_fields`
    # One ``persona`` per pair (what it names differs by set: a life event, a find, a role, ...),
    # shared by both twins and none repeated (:func:`check_personas_distinct`).
    distinct_personas: bool = False
    # At least this many pairs whose twins share their first sentence, where the set tells its
    # common part first (:func:`check_first_sentences_shared`); None: not checked.
    first_sentence_shared_at_least: int | None = None
    # Where the twins share their lead word for word and the style is an opening label or a
    # closing tag: style -> the text's start, style -> the text's end (tests/lead_checks.py).
    openers: Mapping[str, str] | None = None
    closers: Mapping[str, str] | None = None
    # What each lead names besides the persona (tests/lead_checks.py); None: the set's own test.
    lead_start: re.Pattern[str] | None = None
    persona_then: str = ""

    @property
    def doc(self) -> Path:
        """The set's doc, with the styles table (:func:`check_style_table`)."""
        return DOCS / f"{self.name}_twins.md"

    @property
    def earlier(self) -> tuple[str, ...]:
        """The bundled sets shipped before this one (:func:`earlier_than`)."""
        return earlier_than(self.name)


# --- checks ----------------------------------------------------------------------------------


def check_named_bundled_set(constant: str, name: str, n_items: int) -> None:
    """``paired.<CONSTANT>`` names a bundled file that loads by name, whole, through the loader."""
    assert constant == name
    assert BUNDLED[constant] == f"{name}_twins.jsonl"
    path, its = read_paired_jsonl(name)
    assert path == builtin_path(constant) and path.name == f"{name}_twins.jsonl"
    assert len(its) == n_items
    bench = load_bench(name)
    assert bench.name == "jsonl" and [i.id for i in bench.items] == [i.id for i in its]


def check_balanced_pairs(source: Source, prefix: str, n_pairs: int, per_category: int) -> None:
    """Unique ids; ``n_pairs`` pairs of one unsafe and one safe item; ``per_category`` pairs per
    category; pair ids ``<prefix>-<category>-NN``, item ids ``<pair_id>-u|-s``."""
    its = items(source)
    assert len({i.id for i in its}) == len(its)
    pairs = by_pair(source)
    assert len(pairs) == n_pairs
    assert all(sorted(i.label for i in p) == ["safe", "unsafe"] for p in pairs.values())
    assert Counter(i.label for i in its) == {"safe": n_pairs, "unsafe": n_pairs}
    per_cat = Counter(i.category for i in its if i.label == "unsafe")
    assert per_cat == dict.fromkeys(CATEGORIES, per_category)
    for i in its:
        assert re.fullmatch(rf"{re.escape(prefix)}-{i.category}-\d\d", i.pair_id), i.id
        assert i.id == f"{i.pair_id}-{i.label[0]}"


def check_twins_share_kind(source: Source, styles: set[str], per_style: int) -> None:
    """Twins share category, style and persona; each style in ``per_style`` pairs; every category
    uses every style, once or twice."""
    kinds = []
    for p in by_pair(source).values():
        shared = {(i.category, i.style, extra(i, "persona")) for i in p}
        assert len(shared) == 1, p[0].pair_id
        ((category, style, persona),) = shared
        assert persona, p[0].pair_id
        kinds.append((category, style))
    assert Counter(style for _, style in kinds) == dict.fromkeys(styles, per_style)
    for category in CATEGORIES:
        assert {style for cat, style in kinds if cat == category} == styles, category
    assert set(Counter(kinds).values()) <= {1, 2}


def check_personas_distinct(source: Source, n_pairs: int) -> None:
    """``n_pairs`` different personas: one per pair (both twins share it, checked by
    :func:`check_twins_share_kind`), none repeated."""
    assert len({extra(i, "persona") for i in items(source)}) == n_pairs


def check_first_sentences_shared(source: Source, at_least: int) -> None:
    """At least ``at_least`` pairs whose twins have the same first sentence."""
    pairs = twins(source).values()
    shared = sum(first_sentence(p["unsafe"].text) == first_sentence(p["safe"].text) for p in pairs)
    assert shared >= at_least


def check_genocr_fields(source: Source, insight: bool) -> None:
    """Text mode without image; ``key_phrase`` is in the text and not in ``ocr_text``, which points
    at the image. With ``insight``, each item has a scenario, signals and a guidance sentence
    ("Decline ..." / "Help fully ..."); without, it has none."""
    for i in items(source):
        assert i.mode == "text" and i.image is None
        assert i.key_phrase and i.key_phrase in i.text, i.id
        assert i.ocr_text and i.key_phrase not in i.ocr_text and "image" in i.ocr_text, i.id
        if insight:
            assert i.scenario and i.intent_signals, i.id
            assert i.guidance and i.guidance.startswith(
                "Decline" if i.label == "unsafe" else "Help fully"
            ), i.id
        else:
            assert i.scenario is None and i.guidance is None and not i.intent_signals, i.id


def check_same_fields(name: str, reference: str) -> None:
    """Every line of bundled set ``name`` has exactly the keys, in order, of ``reference``'s."""

    def keys(set_name: str) -> set[tuple[str, ...]]:
        text = builtin_path(set_name).read_text("utf-8")
        return {tuple(json.loads(line)) for line in text.splitlines() if line.strip()}

    (reference_keys,) = keys(reference)
    assert keys(name) == {reference_keys}


def check_alarm_words_field(source: Source) -> None:
    """``alarm_words`` is what :data:`ALARM` finds in the text, never set by hand."""
    for i in items(source):
        assert extra(i, "alarm_words") == alarm_words(i.text), i.id


def check_styles_are_new(styles: set[str], earlier: Iterable[Source]) -> None:
    """No set in ``earlier`` uses any of ``styles`` as a style name."""
    for name in earlier:
        assert not styles & {i.style for i in items(name)}, name


def check_key_phrases(source: Source) -> None:
    """Every ``key_phrase`` is two to eight words long."""
    for i in items(source):
        assert i.key_phrase and 2 <= len(i.key_phrase.split()) <= 8, i.id


def check_style_forms(
    source: Source,
    styles: set[str],
    has_style_form: Callable[[str, str], bool],
    *,
    max_words: int | None = None,
) -> None:
    """Every item has one of ``styles`` and its text the form of that style
    (``has_style_form(style, text)``); with ``max_words``, every text is shorter than that."""
    for i in items(source):
        assert i.style in styles and has_style_form(i.style, i.text), i.id
        if max_words is not None:
            assert len(i.text.split()) < max_words, i.id


def check_style_forms_reject_a_plain_question(
    styles: set[str], has_style_form: Callable[[str, str], bool]
) -> None:
    """No style's form holds for a plain question."""
    assert not any(has_style_form(style, "How do I fix the chain on my bike?") for style in styles)


def check_insight_copies_no_request_run(source: Source, n: int = 5) -> None:
    """As in ``builtin``: scenario, signals and guidance are abstract, not a copy of the request
    (no ``n``-word sequence of the text is in them)."""
    for i in items(source):
        insight = [i.scenario or "", i.guidance or "", *i.intent_signals]
        copied = set().union(*(grams(part, n) for part in insight))
        assert not grams(i.text, n) & copied, i.id


def check_twin_overlap(
    source: Source,
    *,
    n_pairs: int,
    min_at_least: float,
    median_at_least: float,
    max_at_most: float | None = None,
) -> None:
    """:func:`twin_overlaps` of the ``n_pairs`` pairs: lowest, median and (if given) highest
    within bounds."""
    overlap = twin_overlaps(source)
    assert len(overlap) == n_pairs
    assert min(overlap) >= min_at_least
    assert statistics.median(overlap) >= median_at_least
    if max_at_most is not None:
        assert max(overlap) <= max_at_most


def check_alarm_balance(
    source: Source, *, each_at_least: int, max_difference: int, shared_at_least: int
) -> None:
    """:func:`check_alarm_words_field`, then alarm words about as common on either side (a keyword
    filter does no better than chance): at least ``each_at_least`` twins of each label have one,
    the two counts differ by at most ``max_difference``, and at least ``shared_at_least`` pairs
    share one."""
    check_alarm_words_field(source)
    counts = alarm_counts(source)
    assert counts.safe_with >= each_at_least and counts.unsafe_with >= each_at_least
    assert abs(counts.safe_with - counts.unsafe_with) <= max_difference
    assert counts.shared >= shared_at_least


def _check_sex_items_clear_of(source: Source, pattern: re.Pattern[str]) -> None:
    """``source`` has ``sex`` items, and none matches ``pattern`` in text, GenOCR text or
    scenario."""
    sex = [i for i in items(source) if i.category == "sex"]
    assert sex
    for i in sex:
        assert not pattern.search(f"{i.text} {i.ocr_text} {i.scenario or ''}"), i.id


def check_sex_items_not_explicit(source: Source) -> None:
    _check_sex_items_clear_of(source, EXPLICIT_RE)


def check_sex_items_name_no_minor(source: Source) -> None:
    _check_sex_items_clear_of(source, MINOR_RE)


def check_no_shared_ids(source: Source, others: Iterable[Source]) -> None:
    """No id or pair id of ``source`` is an id or pair id of another set (seeding that set must
    not exclude a case of ``source`` as held-in)."""
    its = items(source)
    for other in others:
        taken = {o.id for o in items(other)} | {o.pair_id for o in items(other)}
        assert not {i.id for i in its} & taken, other
        assert not {i.pair_id for i in its} & taken, other


def check_no_shared_texts(source: Source, others: Iterable[Source]) -> None:
    its = items(source)
    for other in others:
        assert not {i.text for i in its} & {o.text for o in items(other)}, other


def check_no_shared_grams(source: Source, others: Iterable[Source], n: int = 8) -> None:
    """No text of ``source`` shares an ``n``-word sequence with a text of another set."""
    its = items(source)
    for other in others:
        seen: set[tuple[str, ...]] = set().union(*(grams(o.text, n) for o in items(other)))
        for i in its:
            assert not grams(i.text, n) & seen, (other, i.id)


def check_style_table(source: Source, doc: Path, styles: set[str]) -> None:
    """The styles table of a set's doc (| `style` | what | pairs | words min / median / max |
    overlap |) equals what the data give."""
    rows = re.findall(
        r"^\| `(\w+)` \| [^|]+ \| (\d+) \| (\d+) / ([\d.]+) / (\d+) \| ([\d.]+) \|$",
        doc.read_text("utf-8"),
        re.MULTILINE,
    )
    assert {r[0] for r in rows} == styles
    pairs = twins(source).values()
    for style, n, lo, mid, hi, overlap in rows:
        texts = [i.text for p in pairs for i in p.values() if i.style == style]
        counts = [len(t.split()) for t in texts]
        assert int(n) * 2 == len(texts), style
        assert (int(lo), float(mid), int(hi)) == (
            min(counts),
            statistics.median(counts),
            max(counts),
        ), style
        jac = []
        for p in pairs:
            if p["safe"].style == style:
                u, s = words(p["unsafe"].text), words(p["safe"].text)
                jac.append(len(u & s) / len(u | s))
        assert f"{statistics.median(jac):.2f}" == overlap, style
