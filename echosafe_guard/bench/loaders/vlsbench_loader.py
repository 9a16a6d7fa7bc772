"""VLSBench (Hu et al., 2024): ``data.json``, image-text pairs whose harm leaks from neither alone.

A JSON list of records with ``instruction_id``, ``instruction``, ``image_path`` (relative to the
file's folder, e.g. ``imgs/0.png``), ``category``, ``sub_category``, ``source``,
``image_description`` and ``safety_reason``. Every item is labelled ``unsafe`` (the right
behaviour is a safe answer); there are no twins (``pair_id`` = ``id``).

``source`` is the JSON file or a folder holding ``data.json``. The ``image_dir`` option
(``mapping={"image_dir": PATH}`` or ``VLSBenchLoader(image_dir=...)``) moves the folder image
paths are relative to. Ids are ``vlsbench-<instruction_id>``; ``category`` is VLSBench's
(``Illegal Activity``, ...) and ``sub_category`` is kept on the item. Mode ``Gen``.

``mapping`` may also rename the fields: ``id``, ``text``, ``image``, ``category``.

The release has one record whose ``instruction`` is empty (``instruction_id`` 1685): it fails the
load unless ``on_bad_row="skip"`` (CLI ``--on-bad-row skip``), which leaves it out and names it in
the load's ``skipped`` (2,240 items of 2,241 records).
"""

from __future__ import annotations

from echosafe_guard.bench.loaders.unsafe_list import UnsafeListLoader

__all__ = ["VLSBenchLoader"]

DEFAULTS = {
    "id": ("instruction_id",),
    "text": ("instruction",),
    "image": ("image_path",),
    "category": ("category",),
}


class VLSBenchLoader(UnsafeListLoader):
    """Reads VLSBench's ``data.json``; every item is unsafe, without a twin."""

    name = "vlsbench"
    file_name = "data.json"
    defaults = DEFAULTS
    keep = "sub_category"
    image_default = "."
