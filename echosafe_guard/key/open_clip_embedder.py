"""Image part of the key: an OpenCLIP image tower (default ``ViT-B-32`` / ``laion2b_s34b_b79k``).

Weights come from a local file or from the Hugging Face cache. When downloads are off (the
default whenever ``HF_HUB_OFFLINE`` is set, or ``download=False``) a missing cache entry fails at
once instead of waiting on the network; the failure is remembered and reported, and the guard
goes on with a zero image part.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from echosafe_guard.exceptions import ConfigError, EmbedderError, EmbedderUnavailableError
from echosafe_guard.key.base import EmbedderState, EmbedderStatus, l2_normalize
from echosafe_guard.key.lazy_model import LazyModel
from echosafe_guard.key.torch_threads import apply_torch_threads

__all__ = ["DEFAULT_IMAGE_MODEL", "DEFAULT_IMAGE_PRETRAINED", "OpenClipEmbedder"]

DEFAULT_IMAGE_MODEL = "ViT-B-32"
DEFAULT_IMAGE_PRETRAINED = "laion2b_s34b_b79k"
_HF_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
_register_lock = threading.Lock()


def _downloads_allowed(download: bool | None) -> bool:
    if download is not None:
        return download
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("", "0", "false", "no")


class OpenClipEmbedder:
    """Embeds images with any open_clip model.

    ``pretrained`` is an open_clip tag (``laion2b_s34b_b79k``), a path to a weights file, or
    ``None`` for random initialisation (tests only: such keys carry no meaning).
    ``model_config`` registers an extra open_clip model-config JSON file before creation.
    """

    def __init__(
        self,
        model: str = DEFAULT_IMAGE_MODEL,
        pretrained: str | None = DEFAULT_IMAGE_PRETRAINED,
        *,
        model_config: str | Path | None = None,
        device: str = "cpu",
        download: bool | None = None,
        cache_dir: str | None = None,
        torch_threads: int | None = None,
    ) -> None:
        self._model_name = model
        self._torch_threads = torch_threads
        self._pretrained = pretrained
        self._model_config = Path(model_config) if model_config is not None else None
        self._device = device
        self._download = download
        self._cache_dir = cache_dir
        self._dim: int | None = None
        self._lazy: LazyModel[tuple[Any, Any]] = LazyModel(
            self._create, f"image model {self.model_id!r}"
        )

    @property
    def model_id(self) -> str:
        tag = self._pretrained if self._pretrained is not None else "random-init"
        if self._pretrained is not None and os.sep in tag:
            tag = "file:" + Path(tag).name
        return f"open_clip:{self._model_name}/{tag}"

    def _register(self) -> Any:
        try:
            import open_clip
        except ImportError as exc:
            raise EmbedderUnavailableError(
                "image embedder needs the 'open_clip_torch' package"
            ) from exc
        if self._model_config is not None:
            if not self._model_config.is_file():
                raise ConfigError(f"open_clip model config {self._model_config} does not exist")
            with _register_lock:
                if open_clip.get_model_config(self._model_name) is None:
                    open_clip.add_model_config(self._model_config)
        if open_clip.get_model_config(self._model_name) is None:
            raise ConfigError(f"unknown open_clip model {self._model_name!r}")
        return open_clip

    @property
    def dim(self) -> int:
        """From the model config: no weights are loaded."""
        if self._dim is None:
            cfg = self._register().get_model_config(self._model_name)
            self._dim = int(cfg["embed_dim"])
        return self._dim

    def _weights(self, open_clip: Any) -> str | None:
        tag = self._pretrained
        if tag is None or Path(tag).is_file():
            return tag
        cfg = open_clip.get_pretrained_cfg(self._model_name, tag)
        if not cfg:
            if os.sep in tag or tag.endswith((".bin", ".pt", ".safetensors")):
                raise EmbedderUnavailableError(f"image model weights file {tag!r} does not exist")
            raise ConfigError(f"open_clip has no pretrained tag {tag!r} for {self._model_name!r}")
        hub = cfg.get("hf_hub", "")
        if hub:
            from huggingface_hub import try_to_load_from_cache

            repo, filename = os.path.split(hub)  # "org/name/" or "org/name/file", as open_clip
            for name in ([filename] if filename else []) + list(_HF_WEIGHT_FILES):
                hit = try_to_load_from_cache(repo, name, cache_dir=self._cache_dir)
                if isinstance(hit, str):
                    return hit
        if not _downloads_allowed(self._download):
            raise EmbedderUnavailableError(
                f"image model {self.model_id!r}: weights are not in the local cache and downloads "
                "are off (HF_HUB_OFFLINE); pass a local weights file as pretrained, or allow one "
                "download on a connected machine"
            )
        try:
            return str(open_clip.download_pretrained(cfg, cache_dir=self._cache_dir))
        except Exception as exc:
            raise EmbedderUnavailableError(
                f"image model {self.model_id!r}: weights could not be downloaded: {exc}"
            ) from exc

    def _create(self) -> tuple[Any, Any]:
        import torch

        apply_torch_threads(self._torch_threads)
        open_clip = self._register()
        weights = self._weights(open_clip)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                self._model_name, pretrained=weights, device=self._device
            )
        except Exception as exc:
            raise EmbedderUnavailableError(f"image model {self.model_id!r}: {exc}") from exc
        model.eval()
        with torch.no_grad():
            probe = model.encode_image(torch.zeros(1, 3, *_image_size(model), device=self._device))
        self._dim = int(probe.shape[-1])
        return model, preprocess

    def load(self) -> None:
        self._lazy.get()

    def start_loading(self) -> None:
        """Load on a background thread; :meth:`ready` tells when it is done."""
        self._lazy.start()

    def ready(self) -> bool:
        return self._lazy.peek() is not None

    def wait(self, timeout: float | None = None) -> bool:
        try:
            self._lazy.get(timeout)
        except EmbedderUnavailableError:
            return False
        return True

    def status(self) -> EmbedderStatus:
        state = self._lazy.state
        detail = self._lazy.error or {
            EmbedderState.NOT_LOADED: "loads on first image",
            EmbedderState.LOADING: "loading",
        }.get(state, "")
        return EmbedderStatus(self.model_id, state, detail)

    def embed(self, items: Sequence[Image.Image]) -> npt.NDArray[np.float32]:
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        model, preprocess = self._lazy.get()
        try:
            batch = torch.stack([preprocess(img) for img in items]).to(self._device)
            with torch.no_grad():
                feats = model.encode_image(batch)
        except Exception as exc:
            raise EmbedderError(f"image model {self.model_id!r} failed: {exc}") from exc
        return l2_normalize(feats.float().cpu().numpy())


def _image_size(model: Any) -> tuple[int, int]:
    size = getattr(model.visual, "image_size", 224)
    if isinstance(size, (tuple, list)):
        return int(size[0]), int(size[1])
    return int(size), int(size)
