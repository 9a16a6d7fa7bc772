"""Shared test doubles and fixtures. Test doubles live here only, never in the package."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from echosafe_guard.key.base import EmbedderState, EmbedderStatus, l2_normalize

FAKE_DIM = 64


class FakeTextEmbedder:
    """Deterministic bag-of-words hashing embedder: similar wording gives similar vectors."""

    def __init__(self, dim: int = FAKE_DIM, model_id: str = "fake-bow") -> None:
        self._dim = dim
        self._model_id = model_id
        self.calls = 0

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    def load(self) -> None:
        return None

    def status(self) -> EmbedderStatus:
        return EmbedderStatus(self._model_id, EmbedderState.LIVE)

    def embed(self, items: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls += 1
        out = np.zeros((len(items), self._dim), dtype=np.float32)
        for i, text in enumerate(items):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                h = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
                out[i, h % self._dim] += 1.0 if (h >> 31) & 1 else -1.0
        return l2_normalize(out)


TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="session")
def tiny_clip_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised OpenCLIP model config (about 3.6M parameters)."""
    path = tmp_path_factory.mktemp("clip") / "echosafe-tiny-test.json"
    path.write_text(json.dumps(TINY_CLIP))
    return path


@pytest.fixture
def fake_text() -> FakeTextEmbedder:
    return FakeTextEmbedder()
