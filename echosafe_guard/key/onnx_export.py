"""Export a sentence-transformers text model to ONNX once, into the model cache (offline).

:func:`onnx_model_file` returns ``model.onnx`` for a local sentence-transformers folder whose
pipeline is ``Transformer → Pooling(mean) [→ Normalize]`` (all-MiniLM-L6-v2, all-mpnet-base-v2).
The graph takes ``input_ids`` and ``attention_mask`` and returns the mean-pooled sentence vector
(normalisation is left to the caller). Variants:

* ``fp32``: traced with torch's TorchScript ONNX exporter from the shipped weights; equal to the
  torch forward within float rounding (~1e-7), so it shares the torch key's layout id;
* ``int8``: the fp32 graph smoothed and quantised (:mod:`echosafe_guard.key.onnx_smooth`,
  calibrated on the bundled builtin set's texts); its keys differ, so it has its own layout id.

Like :mod:`echosafe_guard.key.mpnet_weights` the export is done once per cache and is
offline, atomic (written to a temporary folder and renamed into place), serialised across threads
(``threading.Lock``) and processes (``fcntl.flock``), and checksummed: the marker file holds the
SHA-256 of the graph, checked once per process before a session is created; a mismatch is
treated as a stale export and redone. Export needs torch and transformers (once); inference needs
only ``onnxruntime`` and ``tokenizers``.

Cache: ``$ECHOSAFE_MODEL_CACHE/onnx`` or ``~/.cache/echosafe-guard/models/onnx``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, Literal

from echosafe_guard.exceptions import EmbedderUnavailableError
from echosafe_guard.key.mpnet_weights import model_cache_root

__all__ = ["EXPORT_VERSIONS", "OnnxVariant", "check_pipeline", "onnx_model_file"]

OnnxVariant = Literal["fp32", "int8"]
EXPORT_VERSIONS: dict[str, int] = {"fp32": 1, "int8": 2}
"""Bumped when a variant's exported graph changes; part of its cache folder name (int8 2: the
smoothed graph; 1 was plain dynamic quantisation, whose mpnet keys were unrelated to torch's)."""
_CALIBRATION_STEP = 4
"""Every 4th text of the bundled builtin set calibrates the int8 graph (78 texts)."""
_MARKER = ".echosafe-complete"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_OPSET = 17
_lock = threading.Lock()
_verified: set[Path] = set()


def check_pipeline(model_dir: Path) -> int:
    """Raise unless ``model_dir`` is ``Transformer → Pooling(mean) [→ Normalize]``; returns the
    ``max_seq_length`` the tokenizer must truncate to."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        types = [str(m["type"]).rsplit(".", 1)[-1] for m in modules]
        if types not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            raise EmbedderUnavailableError(f"{model_dir}: unsupported pipeline {types}")
        pooling = json.loads((model_dir / modules[1]["path"] / "config.json").read_text())
        modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
        if modes != {"pooling_mode_mean_tokens"}:
            raise EmbedderUnavailableError(f"{model_dir}: pooling {sorted(modes)} is not mean")
        config = json.loads((model_dir / "sentence_bert_config.json").read_text())
        if not (model_dir / "tokenizer.json").is_file():
            raise EmbedderUnavailableError(f"{model_dir}: no tokenizer.json")
        return int(config["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise EmbedderUnavailableError(
            f"{model_dir}: not a sentence-transformers folder the ONNX exporter supports: {exc}"
        ) from exc


def _fingerprint(model_dir: Path, variant: OnnxVariant) -> str:
    """Identifies the source weights without hashing them: path, size and mtime of each file."""
    digest = hashlib.sha256(f"v{EXPORT_VERSIONS[variant]}|{model_dir.resolve()}".encode())
    for name in ("config.json", "tokenizer.json", *_WEIGHT_FILES):
        path = model_dir / name
        if path.is_file():
            st = path.stat()
            digest.update(f"|{name}|{st.st_size}|{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:12]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _export_fp32(model_dir: Path, dest: Path) -> None:
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise EmbedderUnavailableError("ONNX export needs torch and transformers (once)") from exc

    class MeanPooled(torch.nn.Module):  # type: ignore[misc]
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
    model.eval()
    ids = torch.full((2, 8), 100, dtype=torch.long)
    mask = torch.ones((2, 8), dtype=torch.long)
    mask[1, 5:] = 0  # trace with padding, so the graph keeps the masking path
    axes = {
        "input_ids": {0: "batch", 1: "seq"},
        "attention_mask": {0: "batch", 1: "seq"},
        "embedding": {0: "batch"},
    }
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            MeanPooled(model),
            (ids, mask),
            str(dest),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=_OPSET,
            dynamo=False,
        )


def _export_int8(fp32: Path, dest: Path, model_dir: Path) -> None:
    try:
        import onnxruntime.quantization  # noqa: F401

        from echosafe_guard.key.onnx_smooth import quantize_smoothed
    except ImportError as exc:
        raise EmbedderUnavailableError("int8 export needs onnxruntime and onnx") from exc
    from echosafe_guard.paired import read_paired_jsonl

    _, items = read_paired_jsonl("builtin")
    texts = [item.text for item in items[::_CALIBRATION_STEP] if item.text.strip()]
    quantize_smoothed(fp32, dest, model_dir / "tokenizer.json", texts)


def _verify(folder: Path) -> bool:
    """The marker exists and the graph's SHA-256 matches it (hashed once per process)."""
    graph = folder / "model.onnx"
    if folder in _verified:
        return True
    try:
        meta = json.loads((folder / _MARKER).read_text())
        ok = graph.is_file() and _sha256(graph) == meta["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if ok:
        _verified.add(folder)
    return ok


def onnx_model_file(
    model_dir: Path, name: str, variant: OnnxVariant = "fp32", cache_root: Path | None = None
) -> Path:
    """The cached ``model.onnx`` of ``model_dir`` (exported on first call; blocking, seconds).

    Raises :class:`EmbedderUnavailableError` when the folder is unsupported or export fails."""
    check_pipeline(model_dir)
    root = (cache_root or model_cache_root()) / "onnx"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    folder = root / f"{safe}-{variant}-{_fingerprint(model_dir, variant)}"
    if _verify(folder):
        return folder / "model.onnx"
    source = onnx_model_file(model_dir, name, "fp32", cache_root) if variant == "int8" else None
    with _lock:
        try:
            root.mkdir(parents=True, exist_ok=True)
            with (root / f".{folder.name}.lock").open("a+b") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file is closed
                if _verify(folder):  # another process finished meanwhile
                    return folder / "model.onnx"
                work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=root))
                try:
                    graph = work / "model.onnx"
                    if source is None:
                        _export_fp32(model_dir, graph)
                    else:
                        _export_int8(source, graph, model_dir)
                    meta = {
                        "sha256": _sha256(graph),
                        "source": str(model_dir),
                        "name": name,
                        "variant": variant,
                        "export_version": EXPORT_VERSIONS[variant],
                    }
                    (work / _MARKER).write_text(json.dumps(meta, indent=1) + "\n")
                    if folder.exists():  # a stale or corrupt earlier export
                        shutil.rmtree(folder)
                    os.replace(work, folder)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
        except OSError as exc:
            raise EmbedderUnavailableError(
                f"{name}: cannot export the {variant} ONNX model under {root}: {exc}"
            ) from exc
        except EmbedderUnavailableError:
            raise
        except Exception as exc:  # the exporter's own errors: report, never crash the host
            raise EmbedderUnavailableError(
                f"{name}: ONNX {variant} export failed: {type(exc).__name__}: {exc}"
            ) from exc
    _verified.add(folder)
    return folder / "model.onnx"
