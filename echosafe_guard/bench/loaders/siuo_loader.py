"""SIUO (Wang et al., 2024): ``siuo_gen.json``, safe inputs that lead to unsafe outputs.

A JSON list of records with ``question_id``, ``image`` (a file name), ``question``,
``category``, ``safety_warning`` and ``reference_answer``. The image and the question are each
harmless alone; together they are an unsafe context, so every item is labelled ``unsafe``. The
right behaviour is a safe *and helpful* answer (SIUO's own gold answers are mostly cautious but
helpful), not a refusal: the load's ``target`` is ``safe_helpful``, and ``eval`` reports no refusal
rate as a score for it (see the README). There are no twins (``pair_id`` = ``id``).

The multiple-choice file ``siuo_mcqa.json`` loads too (pass it as the source): each question's
``options`` are appended to its text and ``correct_option`` is kept on the item.

``source`` is the JSON file or a folder holding ``siuo_gen.json``. Images are read from
``images/`` next to the file; the ``image_dir`` option (``mapping={"image_dir": PATH}``, relative
to the file's folder or absolute, or ``SIUOLoader(image_dir=...)``) points elsewhere. Ids are
``siuo-<question_id>``; ``category`` is SIUO's (``self-harm``, ``dangerous behavior``, ...);
``safety_warning`` is kept on the item. Mode ``Gen``.

``mapping`` may also rename the fields: ``id``, ``text``, ``image``, ``category``.
"""

from __future__ import annotations

from echosafe_guard.bench.loaders.unsafe_list import UnsafeListLoader

__all__ = ["SIUOLoader"]

DEFAULTS = {
    "id": ("question_id",),
    "text": ("question",),
    "image": ("image",),
    "category": ("category",),
}


class SIUOLoader(UnsafeListLoader):
    """Reads SIUO's generation set; every item is an unsafe context without a twin."""

    name = "siuo"
    file_name = "siuo_gen.json"
    defaults = DEFAULTS
    keep = "safety_warning"
    image_default = "images"
    target = "safe_helpful"
    target_note = (
        "SIUO's right answer is safe AND helpful, not a refusal: its refusal rate is shown for "
        "information only, never as a score (judge helpfulness with an LLM judge: QS)"
    )
