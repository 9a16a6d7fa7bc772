"""Benchmarks named on the Hugging Face hub: ``hf:owner/name[@revision]`` → a local snapshot.

:func:`snapshot` downloads the dataset repository with ``huggingface_hub.snapshot_download``
into the hub cache (``HF_HOME``; a second call reuses it, and ``HF_HUB_OFFLINE=1`` reads only the
cache) and returns the snapshot folder, which the loader then reads like any local folder.
Downloading happens only when the user names an ``hf:`` source; nothing else reaches the network.
A failure (offline and not cached, no such dataset, access refused) is a
:class:`~echosafe_guard.exceptions.BenchDownloadError`.
"""

from __future__ import annotations

import re
from pathlib import Path

from echosafe_guard.exceptions import BenchDownloadError, DataFormatError

__all__ = ["HF_PREFIX", "KNOWN_FORMATS", "is_hub_source", "parse", "snapshot"]

HF_PREFIX = "hf:"
KNOWN_FORMATS = {"echosafe-mllm/mm-safetybench-plus-plus": "mmsafetybench_pp"}
"""Hub datasets whose loader is known, so ``--format`` may be left out."""
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_hub_source(source: str) -> bool:
    return source.startswith(HF_PREFIX)


def parse(source: str) -> tuple[str, str | None]:
    """``(repo_id, revision)`` of ``hf:owner/name[@revision]``."""
    spec = source[len(HF_PREFIX) :].strip()
    repo, _, revision = spec.partition("@")
    if not _REPO.match(repo):
        raise DataFormatError(f"{source}: expected hf:OWNER/NAME[@REVISION]")
    return repo, revision or None


def snapshot(source: str) -> Path:
    """The local snapshot folder of the hub dataset ``source`` (downloaded if needed)."""
    repo, revision = parse(source)
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise BenchDownloadError(
            f"{source}: downloading from the hub needs huggingface_hub (pip install "
            "huggingface_hub), or download it yourself and pass the folder"
        ) from exc
    try:
        folder = snapshot_download(repo, repo_type="dataset", revision=revision)
    except Exception as exc:  # any hub client failure: offline, 404, gated, HTTP, validation
        raise BenchDownloadError(
            f"{source}: cannot download the dataset {repo} from the Hugging Face hub and it is "
            f"not in the local hub cache ({type(exc).__name__}: {exc}). Connect to the network "
            "(and unset HF_HUB_OFFLINE), or download it elsewhere with "
            f"`huggingface-cli download --repo-type dataset {repo} --local-dir DIR` and pass DIR"
        ) from exc
    return Path(str(folder))
