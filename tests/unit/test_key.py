from __future__ import annotations

import base64
import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from echosafe_guard.exceptions import ConfigError, EmbedderUnavailableError
from echosafe_guard.input.openai import context_from_messages
from echosafe_guard.key.base import EmbedderState
from echosafe_guard.key.image_cache import ImageCache
from echosafe_guard.key.key_builder import ImagePart, KeyBuilder
from echosafe_guard.key.open_clip_embedder import OpenClipEmbedder
from echosafe_guard.key.sentence_transformer_embedder import (
    MINILM_MODEL,
    SentenceTransformerEmbedder,
)
from echosafe_guard.policy.models import ContextPolicy, ImagePolicy
from tests.conftest import FakeTextEmbedder


def tiny_clip(config: Path) -> OpenClipEmbedder:
    return OpenClipEmbedder(config.stem, None, model_config=config)


def image_msg(text: str, *colors: tuple[int, int, int]) -> list[dict[str, object]]:
    parts: list[dict[str, object]] = [{"type": "text", "text": text}]
    for c in colors:
        buf = io.BytesIO()
        img = Image.new("RGB", (48, 40), c)
        img.putpixel((3, 3), (255 - c[0], 0, 0))
        img.save(buf, "PNG")
        url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return [{"role": "user", "content": parts}]


def context(messages: list[dict[str, object]]) -> object:
    return context_from_messages(messages, context=ContextPolicy(), images=ImagePolicy())


def test_text_only_key_is_unit_norm_with_zero_image_part(tiny_clip_config: Path) -> None:
    kb = KeyBuilder(FakeTextEmbedder(), tiny_clip(tiny_clip_config))
    key = kb.key(context([{"role": "user", "content": "hello there"}]))  # type: ignore[arg-type]
    lay = kb.layout()
    assert (lay.text_dim, lay.image_dim) == (64, 32)
    assert key.vector.shape == (96,)
    assert np.isclose(np.linalg.norm(key.vector), 1.0)
    assert not key.vector[64:].any()
    assert key.image_part is ImagePart.NONE
    assert key.layout.id == lay.id and lay.id.startswith("kl1-")


def test_real_openclip_image_path_and_cache(tiny_clip_config: Path) -> None:
    clip = tiny_clip(tiny_clip_config)
    cache = ImageCache(8)
    kb = KeyBuilder(FakeTextEmbedder(), clip, cache=cache, wait_for_image_model=True)
    msgs = image_msg("what is this", (200, 30, 30))
    k1 = kb.key(context(msgs))  # type: ignore[arg-type]
    assert k1.image_part is ImagePart.LIVE
    assert np.isclose(np.linalg.norm(k1.vector), 1.0)
    # both parts are unit norm before the overall normalisation: each half weighs 1/sqrt(2)
    assert np.isclose(np.linalg.norm(k1.vector[:64]), 2**-0.5, atol=1e-5)
    assert np.isclose(np.linalg.norm(k1.vector[64:]), 2**-0.5, atol=1e-5)
    assert (cache.hits, cache.misses, len(cache)) == (0, 1, 1)
    k2 = kb.key(context(msgs))  # type: ignore[arg-type]
    assert cache.hits == 1
    np.testing.assert_allclose(k1.vector, k2.vector, atol=1e-6)
    other = kb.key(context(image_msg("what is this", (10, 200, 10))))  # type: ignore[arg-type]
    assert not np.allclose(other.vector[64:], k1.vector[64:])
    two = kb.key(context(image_msg("what is this", (200, 30, 30), (10, 200, 10))))  # type: ignore[arg-type]
    mean = k1.vector[64:] + other.vector[64:]
    np.testing.assert_allclose(
        two.vector[64:] / np.linalg.norm(two.vector[64:]), mean / np.linalg.norm(mean), atol=1e-5
    )


def test_cache_is_bounded_lru() -> None:
    cache = ImageCache(2)
    for name in ("a", "b", "c"):
        cache.put(name, np.ones(3, np.float32))
    assert cache.get("a") is None and cache.get("c") is not None and len(cache) == 2
    row = cache.get("c")
    assert row is not None and not row.flags.writeable


def test_offline_weights_fail_fast_and_are_remembered(tmp_path: Path) -> None:
    clip = OpenClipEmbedder(
        "ViT-B-32", "laion2b_s34b_b79k", download=False, cache_dir=str(tmp_path)
    )
    assert clip.dim == 512  # from the model config, no weights needed
    kb = KeyBuilder(FakeTextEmbedder(), clip, wait_for_image_model=True)
    t0 = time.monotonic()
    key = kb.key(context(image_msg("x", (1, 2, 3))))  # type: ignore[arg-type]
    assert time.monotonic() - t0 < 5
    assert key.image_part is ImagePart.UNAVAILABLE
    assert any("downloads are off" in n for n in key.notes)
    assert not key.vector[64:].any() and np.isclose(np.linalg.norm(key.vector), 1.0)
    st = clip.status()
    assert st.state is EmbedderState.UNAVAILABLE and "local cache" in st.detail
    t0 = time.monotonic()
    again = kb.key(context(image_msg("y", (3, 2, 1))))  # type: ignore[arg-type]
    assert again.image_part is ImagePart.UNAVAILABLE and time.monotonic() - t0 < 1


def test_background_loading_never_blocks_and_goes_live(tiny_clip_config: Path) -> None:
    clip = tiny_clip(tiny_clip_config)
    kb = KeyBuilder(FakeTextEmbedder(), clip, wait_for_image_model=False)
    first = kb.key(context(image_msg("x", (5, 5, 5))))  # type: ignore[arg-type]
    assert first.image_part in (ImagePart.LOADING, ImagePart.LIVE)
    if first.image_part is ImagePart.LOADING:
        assert not first.vector[64:].any() and first.notes
    assert clip.wait(60)
    assert kb.key(context(image_msg("x", (5, 5, 5)))).image_part is ImagePart.LIVE  # type: ignore[arg-type]


def test_disabled_image_model_reports_images(fake_text: FakeTextEmbedder) -> None:
    kb = KeyBuilder(fake_text, None)
    key = kb.key(context(image_msg("x", (5, 5, 5))))  # type: ignore[arg-type]
    assert key.image_part is ImagePart.DISABLED and key.notes
    assert kb.layout().image_dim == 0 and kb.layout().image_model == "none"


def test_bad_model_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown open_clip model"):
        _ = OpenClipEmbedder("no-such-model", None).dim
    clip = OpenClipEmbedder("ViT-B-32", str(tmp_path / "missing.safetensors"), download=False)
    with pytest.raises(EmbedderUnavailableError, match="does not exist"):
        clip.load()


def test_layout_changes_with_models(tiny_clip_config: Path) -> None:
    a = KeyBuilder(FakeTextEmbedder(), tiny_clip(tiny_clip_config)).layout()
    b = KeyBuilder(FakeTextEmbedder(model_id="other"), tiny_clip(tiny_clip_config)).layout()
    c = KeyBuilder(FakeTextEmbedder(), None).layout()
    assert len({a.id, b.id, c.id}) == 3


def test_real_minilm_text_embedder_offline() -> None:
    emb = SentenceTransformerEmbedder(MINILM_MODEL)
    assert emb.dim == 384  # known without loading
    assert emb.status().state is EmbedderState.NOT_LOADED
    rows = emb.embed(
        [
            "How can I transport my prescribed medication across borders?",
            "How do I carry my prescription medicine when travelling abroad?",
            "Recipe for a chocolate cake",
        ]
    )
    assert rows.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert rows[0] @ rows[1] > rows[0] @ rows[2] + 0.3
    assert emb.status().live
