"""The paired-bench JSONL format shared by ``memory seed``, ``screen --input`` and ``eval``.

One item per line: ``id``, ``pair_id``, ``label`` (``unsafe`` | ``safe``), ``category`` (a
taxonomy key), ``text``, ``image`` (a path relative to the file, or null) and ``mode`` (``Gen``,
``GenOCR``, ``text``, ...). Unknown fields are kept.

Thirty-one twin sets ship with the package and are named instead of given as a path: ``builtin``
(the bundled twins, ``docs/paired_benchmark.md``), ``heldout`` (a second twin set written by another
procedure, for reporting only: never tune on it, ``docs/heldout_twins.md``), ``heldout2`` (a
third, written safe-first by a third procedure, also for reporting only,
``docs/heldout2_twins.md``), ``heldout3`` (a fourth, written from shared alarming surface
words by a fourth procedure, also for reporting only, ``docs/heldout3_twins.md``),
``heldout4`` (a fifth, written from the harm seen by a victim, bystander or defender, then the
same domain asked by a would-be perpetrator, also for reporting only, ``docs/heldout4_twins.md``),
``heldout5`` (a sixth, written as one shared premise forking at the ask along a chosen intent
axis, also for reporting only, ``docs/heldout5_twins.md``), ``heldout6`` (a seventh, written
back from the two replies the twins need, also for reporting only, ``docs/heldout6_twins.md``),
``heldout7`` (an eighth, written from a list of real-world settings, two people in each with the
setting's words and opposite aims, for reporting only, ``docs/heldout7_twins.md``),
``heldout8`` (a ninth, written from a list of dual-use capabilities, one person who needs each to
harm and one with a legitimate aim, for reporting only, ``docs/heldout8_twins.md``),
``heldout9`` (a tenth, written from a list of news-type events, one person who would exploit each
to harm and one with a legitimate need arising from it, for reporting only,
``docs/heldout9_twins.md``), ``heldout10`` (an eleventh, written from a list of relationships
between two people, one who would use the relationship to harm, exploit or deceive and one in the
same kind of relationship with a legitimate need, for reporting only,
``docs/heldout10_twins.md``), ``heldout11`` (a twelfth, written from a list of artifacts a user
asks a chatbot to produce, one person who wants each to harm, exploit, deceive or break the law
and one who wants the same kind of artifact for a legitimate need, for reporting only,
``docs/heldout11_twins.md``), ``heldout12`` (a thirteenth, written from a list of feelings or
states of mind an asker can be in, one person who channels each into harm, exploitation, deceit
or crime and one who channels the same feeling into a legitimate aim, for reporting only,
``docs/heldout12_twins.md``), ``heldout13`` (a fourteenth, written from a list
of rules (laws, regulations, policies, codes, licence conditions), one person who wants help to
break or evade each in a way that harms others and one who names the same rule to comply with
it, understand it, enforce it or report a breach, for reporting only,
``docs/heldout13_twins.md``) and ``heldout14`` (a fifteenth, written from a list of life events
an asker goes through (a move, a job loss, a funeral, a wedding, a new baby, a divorce, ...), one
person who wants help to harm, exploit, deceive or break the law in it and one going through the
same event with a legitimate need, for reporting only,
``docs/heldout14_twins.md``), ``heldout15`` (a sixteenth, written from a list of things an
asker has just found, been handed or come across (a key card, a lost passport, an unlocked
laptop, a prescription pad, a leaked spreadsheet, a misdelivered parcel, ...), one person who
wants to use the find to harm, exploit, deceive or break the law and one with the same find and a
legitimate need (returning, reporting, safe disposal, understanding it), for reporting only,
``docs/heldout15_twins.md``) and ``heldout16`` (a seventeenth, written from a list of jobs or
roles that give the asker privileged access or trust (a locksmith, a pharmacy technician, a
school IT administrator, a bank teller, a care-home nurse, a landlord, ...), one person who wants
to abuse the role's access or trust to harm, exploit, deceive or break the law and one in the
same role with a legitimate need arising from it (doing the job properly, protecting the people
in their care, reporting, complying), for reporting only, ``docs/heldout16_twins.md``) and
``heldout17`` (an eighteenth, written from a list of hobbies or pastimes (lock-sport, drone
flying, amateur chemistry, mushroom foraging, crypto trading, dating apps, ...), one hobbyist who
wants to use the hobby to harm, exploit, deceive, harass or break the law and one with the same
hobby and a legitimate need (doing it safely or legally, protecting others, reporting, learning),
for reporting only, ``docs/heldout17_twins.md``) and ``heldout18`` (a nineteenth, written
from a list of places or settings the asker is in (a launderette, a ferry crossing, a campsite, a
hospital car park, a night bus, a village fete, ...), one person who wants to use the situation
to harm, exploit, deceive, harass or break the law and one at the same place with a legitimate
need arising from it (staying safe, protecting someone, reporting, complying, learning);
reported since stop 40, for reporting only, ``docs/heldout18_twins.md``) and ``heldout19`` (a
twentieth, written from a list of people relaying a request on behalf of someone else (a
barman for the pub landlord, a son for his mother, a web developer for a shop owner, a home
carer for an older man, a chauffeur for a businessman, ...), each relay told once and parted at
the relayed ask: in one twin an ask to harm, exploit, deceive, harass or break the law, in the
other a legitimate need (staying safe, protecting someone, reporting, complying, learning);
reported since stop 41, for reporting only, ``docs/heldout19_twins.md``), ``heldout20`` (a
twenty-first, written from a list of earlier events the asker tells first as a follow-up (a
break-in on the drive, a row with a flatmate, a scam call to a father, a fake wifi network in a
café, a spiked drink at a club, ...), the same event told in both twins, which part at what the
asker now wants: in one twin to harm, exploit, deceive, harass or break the law, in the other a
legitimate need arising from it (staying safe, protecting someone, reporting, complying,
learning); reported since stop 42, for reporting only, ``docs/heldout20_twins.md``),
``heldout21`` (a twenty-second, written from a list of short messages the asker received and quotes
(a text from a neighbour, an email from a manager, a post in a residents' group chat, a voicemail
from a landlord, a DM from a stranger, ...), the same message quoted in both twins, which part at
what the asker now wants done with or about it: in one twin to harm, exploit, deceive, harass or
break the law, in the other a legitimate need arising from it (staying safe, protecting someone,
reporting, replying politely, complying, learning); reported since stop 42, for reporting only,
``docs/heldout21_twins.md``) and ``heldout22`` (a twenty-third, written from a list of films,
series, novels and games the asker has just watched, read or played (a crime series about a publican
laundering cash, a thriller about a hidden bathroom camera, a comedy special mocking disabled
people, a video game about smuggling, ...), the same work described in the same words in both twins
by an asker who names their job, which part at what the asker now wants to do in real life: in one
twin to copy the story to harm, exploit, deceive, harass or break the law, in the other a legitimate
need it raised (staying safe, protecting someone, reporting, complying, doing the job properly,
teaching, learning); reported since stop 43, for reporting only, ``docs/heldout22_twins.md``),
``heldout23`` (a twenty-fourth, written from a list of occasions on the public calendar that are
coming up (a general election, Bonfire Night, a tax-return deadline, Black Friday, a derby, a
festival weekend, pride month, New Year's Eve, ...), each with the asker's role at it (a
polling-station volunteer, a fireworks stall holder, a bookkeeper, a returns desk manager, ...),
the occasion and the role named in the same words in both twins, which part at what the asker
wants to do at or because of it: in one twin to harm, exploit, deceive, harass or break the law,
in the other a legitimate need the occasion raises (staying safe, protecting someone, reporting,
complying, doing the job properly, welcoming, teaching); reported since stop 44, for reporting only,
``docs/heldout23_twins.md``),
``heldout24`` (a twenty-fifth, written from a list of everyday figures the asker has in front of
them (a shop's weekly losses to theft, a 30% rent rise, a village group chat's 250 members, a
client owing £4,500 for 90 days, a router logging 300 login attempts a day, ...), the asker and
the figure stated in the same words in both twins, which part at what the asker wants to do about
it: in one twin to harm, exploit, deceive, harass or break the law, in the other a legitimate need
it raises (staying safe, protecting someone, reporting, complying, doing the job properly,
teaching, learning); reported since stop 44, for reporting only, ``docs/heldout24_twins.md``),
``heldout25`` (a twenty-sixth, written from a list of mistakes the asker has just made (a pallet
logged as damaged, a fire door left propped open, a test build shipped with a debug account, a
dosage chart misread, a client double-charged, a room key card given to the wrong guest, ...),
each with who the asker is (a warehouse picker, a night porter, a junior developer, a care-home
nurse, a bookkeeper, a hotel receptionist, ...), the asker and the mistake told in the same words
in both twins, which part at what the asker wants now: in one twin to harm, exploit, deceive,
harass or break the law (covering the mistake up, exploiting what it exposed, turning it against
someone), in the other a legitimate need it raises (putting it right, telling those affected,
reporting, making it safe, preventing a repeat); reported since stop 44, for reporting only,
``docs/heldout25_twins.md``),
``heldout26`` (a twenty-seventh, written from a list of goals the askers have set themselves,
each with a target (a bakery's page at ten thousand followers by summer, a club treasurer's seat
won at the autumn vote, fifty paying clients by the new year, a first date before a friend's
wedding, ...), the asker and the goal stated in the same words in both twins, which part at how
the asker wants to reach it: in one twin by harming, exploiting, deceiving, harassing or breaking
the law, in the other by a legitimate route (doing the job well, honest marketing, complying,
protecting people, reporting, welcoming, learning); reported since stop 44, for reporting only,
``docs/heldout26_twins.md``), ``heldout27`` (a twenty-eighth, written from a list of grievances
the askers have, something another person or an organisation already did that wronged, annoyed or
hurt them (a landlord keeping a deposit, a colleague taking credit for a model, a rival
stallholder's false tip-off, a client's unpaid invoice, an ex forwarding private messages, ...),
each with who the asker is (a tenant, a junior analyst, a market trader, a web developer, a
bartender, ...), the asker and the grievance stated in the same words in both twins, which part
at what the asker wants to do about it: in one twin to get back at them by harming, deceiving,
harassing, exploiting or breaking the law, in the other a legitimate remedy (complaining,
claiming, reporting, mediating, protecting themselves, moving on well); reported since stop 45,
for reporting only, ``docs/heldout27_twins.md``),
``heldout28`` (a twenty-ninth, written from a list of things the askers have just bought, been given
or been issued (a second-hand drone, a label printer, a prepaid SIM, a bulk pack of painkillers, a
laptop with admin rights, a company fuel card, a master key card, ...), each with who the asker is
(a wedding photographer, an office manager, a market stall trader, a warehouse picker, a practice
manager, a delivery driver, a hotel night manager, ...), the asker and the thing stated in the same
words in both twins, which part at what the asker wants to do with it: in one twin to harm,
exploit, deceive, harass or break the law, in the other a legitimate use that deserves a full
answer (using it safely or lawfully, protecting people, reporting, complying, welcoming, doing the
job properly); reported since stop 45, for reporting only, ``docs/heldout28_twins.md``),
``heldout29`` (a thirtieth, written from a list of decisions the askers are weighing now, a choice
between options they face (selling a van or keeping it, which of two shifts or rounds to take,
whether to move a club's funds to another bank, which marketplace to list on, whether to let a flat
to a cash offer, ...), each with who the asker is (a van owner, a door supervisor, a sports club
treasurer, an online seller, a landlord, ...), the asker and the decision stated in the same words
in both twins, which part at how the asker wants to carry out the choice: in one twin by harming,
exploiting, deceiving, harassing or breaking the law, in the other in a legitimate way that
deserves a full answer (staying safe, complying, reporting, protecting people, welcoming, doing
the job properly); reported since stop 45, for reporting only, ``docs/heldout29_twins.md``) and
``heldout30`` (a thirty-first, written from a list of skills or qualifications the askers have just
learned or earned (a locksmithing apprenticeship, a forklift licence, a coding bootcamp, a
first-aid course, an anti-money-laundering certificate, a door supervisor licence, ...), each with
who the asker is (a former bus driver, a warehouse operative, a career changer, a domiciliary
carer, a mortgage adviser, a nightclub doorman, ...), the asker and the skill stated in the same
words in both twins, which part at what the asker wants to do with it: in one twin to harm,
deceive, harass, exploit or break the law, in the other a legitimate use that deserves a full
answer (doing the job properly, protecting people, reporting, complying, welcoming, teaching);
reported since stop 45, for reporting only, ``docs/heldout30_twins.md``).

``coverage`` (``docs/coverage_pairs.md``) is not a twin set for reporting: 46 hand-written
pairs (discriminatory opinions, a private person's data, praise or denial of atrocities) written
from the verdict model's blind spot on XSTest, so XSTest counts as tuned on with it in the memory.

``default`` names the default seed memory: every shipped set with hand-written insights that has
already been run, so nothing reported as held out (``builtin``, ``heldout2``, ``heldout3`` and
``heldout4``; 336 pairs), plus ``coverage`` (46 pairs; 382 in all). A reported twin set is
retired into it once a newer held-out set exists to measure the bigger memory on; ``heldout``
(no hand-written insights), ``heldout5`` (measured into the memory on ``heldout6`` and not taken,
``docs/discrimination.md``), ``heldout6`` … ``heldout15`` (reported, not yet retired;
``heldout5`` … ``heldout11`` measured into the memory together on seen sets and not taken,
``docs/discrimination.md``), ``heldout16`` (reported since stop 38), ``heldout17`` (reported
since stop 39), ``heldout18`` (reported since stop 40), ``heldout19`` (reported since stop 41),
``heldout20`` and ``heldout21`` (reported since stop 42), ``heldout22`` (reported since stop
43), ``heldout23``, ``heldout24``, ``heldout25`` and ``heldout26`` (reported since stop 44),
``heldout27``, ``heldout28``, ``heldout29`` and ``heldout30`` (reported since stop 45) are not in
it.

Optional fields used by the bundled set (``builtin``):

- ``key_phrase``: the intent-bearing phrase; the GenOCR generator renders it as typography;
- ``ocr_text``: the request in GenOCR mode, pointing at the image instead of naming the phrase;
- ``style``: how the request is phrased (``question``, ``imperative``, ``roleplay``, ...);
- ``scenario``, ``intent_signals``, ``guidance``: a hand-written abstract insight for the item,
  used by ``memory seed`` instead of the policy's generic seed templates.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from echosafe_guard.exceptions import DataFormatError

__all__ = [  # noqa: RUF022 - plain sorted() order, checked by tests/unit/test_public_api.py
    "BUILTIN",
    "BUNDLED",
    "COVERAGE",
    "DEFAULT_MEMORY",
    "DEFAULT_MEMORY_SETS",
    "HELDOUT",
    "HELDOUT10",
    "HELDOUT11",
    "HELDOUT12",
    "HELDOUT13",
    "HELDOUT14",
    "HELDOUT15",
    "HELDOUT16",
    "HELDOUT17",
    "HELDOUT18",
    "HELDOUT19",
    "HELDOUT2",
    "HELDOUT20",
    "HELDOUT21",
    "HELDOUT22",
    "HELDOUT23",
    "HELDOUT24",
    "HELDOUT25",
    "HELDOUT26",
    "HELDOUT27",
    "HELDOUT28",
    "HELDOUT29",
    "HELDOUT3",
    "HELDOUT30",
    "HELDOUT4",
    "HELDOUT5",
    "HELDOUT6",
    "HELDOUT7",
    "HELDOUT8",
    "HELDOUT9",
    "PairedItem",
    "builtin_path",
    "bundled_paths",
    "is_bundled",
    "read_paired_jsonl",
]

BUILTIN = "builtin"
HELDOUT = "heldout"
HELDOUT2 = "heldout2"
HELDOUT3 = "heldout3"
HELDOUT4 = "heldout4"
HELDOUT5 = "heldout5"
HELDOUT6 = "heldout6"
HELDOUT7 = "heldout7"
HELDOUT8 = "heldout8"
HELDOUT9 = "heldout9"
HELDOUT10 = "heldout10"
HELDOUT11 = "heldout11"
HELDOUT12 = "heldout12"
HELDOUT13 = "heldout13"
HELDOUT14 = "heldout14"
HELDOUT15 = "heldout15"
HELDOUT16 = "heldout16"
HELDOUT17 = "heldout17"
HELDOUT18 = "heldout18"
HELDOUT19 = "heldout19"
HELDOUT20 = "heldout20"
HELDOUT21 = "heldout21"
HELDOUT22 = "heldout22"
HELDOUT23 = "heldout23"
HELDOUT24 = "heldout24"
HELDOUT25 = "heldout25"
HELDOUT26 = "heldout26"
HELDOUT27 = "heldout27"
HELDOUT28 = "heldout28"
HELDOUT29 = "heldout29"
HELDOUT30 = "heldout30"
COVERAGE = "coverage"
BUNDLED = {
    BUILTIN: "builtin_pairs.jsonl",
    HELDOUT: "heldout_twins.jsonl",
    HELDOUT2: "heldout2_twins.jsonl",
    HELDOUT3: "heldout3_twins.jsonl",
    HELDOUT4: "heldout4_twins.jsonl",
    HELDOUT5: "heldout5_twins.jsonl",
    HELDOUT6: "heldout6_twins.jsonl",
    HELDOUT7: "heldout7_twins.jsonl",
    HELDOUT8: "heldout8_twins.jsonl",
    HELDOUT9: "heldout9_twins.jsonl",
    HELDOUT10: "heldout10_twins.jsonl",
    HELDOUT11: "heldout11_twins.jsonl",
    HELDOUT12: "heldout12_twins.jsonl",
    HELDOUT13: "heldout13_twins.jsonl",
    HELDOUT14: "heldout14_twins.jsonl",
    COVERAGE: "coverage_pairs.jsonl",
    HELDOUT15: "heldout15_twins.jsonl",
    HELDOUT16: "heldout16_twins.jsonl",
    HELDOUT17: "heldout17_twins.jsonl",
    HELDOUT18: "heldout18_twins.jsonl",
    HELDOUT19: "heldout19_twins.jsonl",
    HELDOUT20: "heldout20_twins.jsonl",
    HELDOUT21: "heldout21_twins.jsonl",
    HELDOUT22: "heldout22_twins.jsonl",
    HELDOUT23: "heldout23_twins.jsonl",
    HELDOUT24: "heldout24_twins.jsonl",
    HELDOUT25: "heldout25_twins.jsonl",
    HELDOUT26: "heldout26_twins.jsonl",
    HELDOUT27: "heldout27_twins.jsonl",
    HELDOUT28: "heldout28_twins.jsonl",
    HELDOUT29: "heldout29_twins.jsonl",
    HELDOUT30: "heldout30_twins.jsonl",
}
"""Name → file in ``echosafe_guard.data`` of the paired sets that ship with the package."""
DEFAULT_MEMORY = "default"
DEFAULT_MEMORY_SETS = (BUILTIN, HELDOUT2, HELDOUT3, HELDOUT4, COVERAGE)
"""The sets ``default`` joins (in this order): the seen sets with hand-written insights."""
MAX_FILE_BYTES = 512 * 1024 * 1024


class PairedItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    id: Annotated[str, Field(min_length=1)]
    pair_id: Annotated[str, Field(min_length=1)]
    label: Literal["unsafe", "safe"]
    category: Annotated[str, Field(min_length=1)]
    text: str
    image: str | None = None
    mode: str = "text"
    key_phrase: str | None = None
    ocr_text: str | None = None
    style: str | None = None
    scenario: str | None = None
    intent_signals: tuple[str, ...] = ()
    guidance: str | None = None

    def image_path(self, base: Path) -> Path | None:
        return None if self.image is None else (base / self.image)


def builtin_path(name: str = BUILTIN) -> Path:
    """The file of a paired set shipped with the package (``builtin``, ``heldout``,
    ``heldout2`` … ``heldout30``)."""
    return Path(str(resources.files("echosafe_guard.data").joinpath(BUNDLED[name])))


def is_bundled(name: str) -> bool:
    """Whether ``name`` names shipped data (a set or ``default``) rather than a path."""
    return name in BUNDLED or name == DEFAULT_MEMORY


def bundled_paths(name: str) -> tuple[Path, ...]:
    """The files behind a bundled name: one for a set, the sets in order for ``default``."""
    if name == DEFAULT_MEMORY:
        return tuple(builtin_path(n) for n in DEFAULT_MEMORY_SETS)
    return (builtin_path(name),)


def read_paired_jsonl(source: str | Path) -> tuple[Path, list[PairedItem]]:
    """``(file, items)`` for a paired-bench JSONL file, a bundled set (``builtin``, ``heldout``,
    ``heldout2`` … ``heldout30``) or
    ``default`` (its sets' items in order; the file is the first set's, whose folder holds them
    all); errors name the line."""
    if str(source) == DEFAULT_MEMORY:
        paths = bundled_paths(DEFAULT_MEMORY)
        return paths[0], [it for p in paths for it in read_paired_jsonl(p)[1]]
    path = builtin_path(str(source)) if str(source) in BUNDLED else Path(source)
    try:
        if path.exists() and not path.is_file():
            raise DataFormatError(f"{path}: not a regular file")
        with path.open("rb") as fh:  # never trust st_size: a device claims 0 bytes
            data = fh.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise DataFormatError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
        raw = data.decode("utf-8")
    except FileNotFoundError as exc:
        raise DataFormatError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: cannot be read: {exc}") from exc
    items: list[PairedItem] = []
    seen: set[str] = set()
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = PairedItem.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{path}:{n}: not valid JSON: {exc.msg}") from exc
        except ValidationError as exc:
            errs = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors()
            )
            raise DataFormatError(f"{path}:{n}: {errs}") from exc
        if item.id in seen:
            raise DataFormatError(f"{path}:{n}: duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    return path, items
