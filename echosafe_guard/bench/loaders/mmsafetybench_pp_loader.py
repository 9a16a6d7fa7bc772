"""MM-SafetyBench++: the release's ``test.jsonl``, safe/unsafe twins over MM-SafetyBench scenarios.

The schema of the release could not be verified when this loader was written, so each field is
looked up under the column names such a file plausibly uses (first present wins), and
``mapping`` (CLI ``--map field=column``) names the column outright:

=============  =====================================================  ========
field          default columns                                        required
=============  =====================================================  ========
``id``         id, question_id, qid, item_id                          no (line)
``pair_id``    pair_id, pair, group_id, pair_key                      no (= id)
``label``      label, safety_label, type, is_harmful, is_unsafe       yes
``category``   category, scenario, harm_category                      yes
``text``       text, question, query, prompt, instruction             yes
``image``      image, image_path, img, img_path                       no
``mode``       mode, setting                                          no
``key_phrase`` key_phrase, Key Phrase                                 no
=============  =====================================================  ========

Labels read ``unsafe``/``harmful``/``1``/``true`` as unsafe and ``safe``/``benign``/``0``/``false``
as safe. Without a mode column an item with an image runs in ``Gen`` mode, one without in
``text``. A required field that cannot be found raises ``DataFormatError`` naming the field, the
columns tried and the columns the record has.

``source`` is the JSONL file or a folder holding ``test.jsonl``. Image paths are relative to the
file's folder, or to the ``image_dir`` option (``mapping={"image_dir": PATH}`` or
``MMSafetyBenchPPLoader(image_dir=...)``). Ids are ``mmsafetybench_pp-<id>``, pair ids
``mmsafetybench_pp-pair-<pair_id>`` (an item without a pair column is its own pair).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from echosafe_guard.bench.loaders._common import (
    IMAGE_MODE,
    TEXT_MODE,
    Fields,
    find_file,
    finish,
    image_dir,
    image_ref,
    make_item,
    parse_label,
    read_jsonl,
    split_mapping,
)
from echosafe_guard.bench.loaders.base import LoadedBench
from echosafe_guard.paired import PairedItem

__all__ = ["MMSafetyBenchPPLoader"]

PREFIX = "mmsafetybench_pp"
DEFAULTS = {
    "id": ("id", "question_id", "qid", "item_id"),
    "pair_id": ("pair_id", "pair", "group_id", "pair_key"),
    "label": ("label", "safety_label", "type", "is_harmful", "is_unsafe"),
    "category": ("category", "scenario", "harm_category"),
    "text": ("text", "question", "query", "prompt", "instruction"),
    "image": ("image", "image_path", "img", "img_path"),
    "mode": ("mode", "setting"),
    "key_phrase": ("key_phrase", "Key Phrase"),
}
REQUIRED = ("label", "category", "text")


class MMSafetyBenchPPLoader:
    """Reads MM-SafetyBench++ ``test.jsonl`` with guessed, overridable column names."""

    name = "mmsafetybench_pp"
    file_name = "test.jsonl"

    def __init__(self, *, image_dir: Path | str | None = None) -> None:
        self.image_dir = None if image_dir is None else Path(image_dir)

    def load(
        self,
        source: Path,
        *,
        text_only: bool = False,
        mapping: dict[str, str] | None = None,
    ) -> LoadedBench:
        columns, opts = split_mapping(
            mapping, loader=self.name, fields=DEFAULTS, options=("image_dir",)
        )
        fields = Fields.build(DEFAULTS, REQUIRED, columns)
        path = find_file(source, self.file_name)
        base = image_dir(opts, path.parent, self.image_dir or ".")
        items: list[PairedItem] = []
        for where, record in read_jsonl(path):
            line = where.rsplit(":", 1)[-1]
            item_id = f"{PREFIX}-{(fields.text(record, 'id', where) or '').strip() or line}"
            pair = (fields.text(record, "pair_id", where) or "").strip()
            image = image_ref(fields.raw(record, "image", where), where)
            mode = (fields.text(record, "mode", where) or "").strip()
            items.append(
                make_item(
                    where,
                    id=item_id,
                    pair_id=f"{PREFIX}-pair-{pair}" if pair else item_id,
                    label=parse_label(fields.raw(record, "label", where), where),
                    category=fields.need(record, "category", where),
                    text=fields.need(record, "text", where),
                    image=image,
                    mode=mode or (IMAGE_MODE if image else TEXT_MODE),
                    key_phrase=fields.text(record, "key_phrase", where),
                )
            )
        notes = [_summary(items)]
        if columns:
            notes.append("mapped: " + ", ".join(f"{f}={c}" for f, c in sorted(columns.items())))
        return finish(self.name, path, base, items, notes, text_only=text_only)


def _summary(items: list[PairedItem]) -> str:
    """Counts of labels, complete pairs (one unsafe + one safe twin) and other groups."""
    groups: dict[str, list[str]] = {}
    for item in items:
        groups.setdefault(item.pair_id, []).append(item.label)
    shapes = Counter(
        "pair" if sorted(g) == ["safe", "unsafe"] else "single" if len(g) == 1 else "other"
        for g in groups.values()
    )
    labels = Counter(item.label for item in items)
    text = (
        f"{len(items)} items ({labels['unsafe']} unsafe, {labels['safe']} safe); "
        f"{shapes['pair']} safe/unsafe pairs, {shapes['single']} items without a twin"
    )
    if shapes["other"]:
        text += f"; {shapes['other']} pair ids group other than one unsafe and one safe item"
    return text
