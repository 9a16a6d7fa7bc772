"""High 3 (memory bombs), Medium 7 (fetch deadlines) and MPO: images are bounded before any
decode, decoded one at a time and shrunk at once; fetches have whole-body and total deadlines."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from echosafe_guard.context import ImageRef, Turn, build_context
from echosafe_guard.exceptions import ImageFetchError, ImageTooLargeError
from echosafe_guard.images import (
    DECODED_MAX_SIDE,
    ImageInput,
    fetch_image,
    image_from_bytes,
    open_rgb,
)
from echosafe_guard.policy.models import ContextPolicy, ImagePolicy
from tests.loopback_server import loopback_server
from tests.security.imaging import SlowHandler, mpo, png, png_declaring

POLICY = ImagePolicy()
WHERE = "messages[0].content[1]"


def _url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with loopback_server(SlowHandler, monkeypatch) as url:
        yield url


@pytest.mark.parametrize(
    ("width", "height"),
    [(40_000, 1_000), (1, 40_000_000 // 1), (200_000, 200), (13_000, 3_000)],
)
def test_thin_or_long_images_are_refused_from_the_header(width: int, height: int) -> None:
    """The issue's 6.6 KB PNG of 40M pixels with an extreme aspect ratio passed the pixel cap."""
    data = png_declaring(width, height)
    assert len(data) < 200
    with pytest.raises(ImageTooLargeError, match=r"images\.max_(aspect|side|pixels)"):
        image_from_bytes(data, where=WHERE, source="data_url", policy=POLICY)


def test_the_requests_images_are_bounded_together() -> None:
    """Sixteen 6000x6000 PNGs (95 KB) decoded at once: +2.2 GB."""
    url = _url(png_declaring(6000, 6000))
    turns = [Turn(text="look", images=tuple(ImageRef(url) for _ in range(16)))]
    with pytest.raises(ImageTooLargeError, match="max_request_pixels"):
        build_context(turns, context=ContextPolicy(), images=POLICY)


def test_decoding_shrinks_each_image_at_once() -> None:
    img = image_from_bytes(png(5000, 3000), where=WHERE, source="data_url", policy=POLICY)
    rgb = open_rgb(img)
    assert max(rgb.size) <= DECODED_MAX_SIDE and rgb.mode == "RGB"
    assert rgb.size[0] > rgb.size[1]


def test_mpo_from_a_phone_camera_is_accepted_as_jpeg() -> None:
    img = image_from_bytes(mpo(), where=WHERE, source="data_url", policy=POLICY)
    assert img.format == "JPEG" and (img.width, img.height) == (64, 48)
    assert open_rgb(img).size == (64, 48)


def test_a_dripping_host_cannot_hold_a_fetch_past_its_deadline(server: str) -> None:
    """Medium 7: the timeout was per socket operation: a slow host held one image for 40 s."""
    policy = ImagePolicy(fetch_allow_hosts=("127.0.0.1",), fetch_timeout_s=1.0)
    t0 = time.monotonic()
    with pytest.raises(ImageFetchError, match="fetch_timeout_s"):
        fetch_image(f"{server}/drip", where=WHERE, policy=policy)
    assert time.monotonic() - t0 < 3.0  # the body alone takes over 10 s


def test_fetches_run_in_parallel_within_a_total_deadline(server: str) -> None:
    policy = ImagePolicy(
        fetch_allow_hosts=("127.0.0.1",), fetch_timeout_s=5, fetch_total_timeout_s=10
    )
    turns = [Turn(text="x", images=tuple(ImageRef(f"{server}/wait?1&n={n}") for n in range(4)))]
    t0 = time.monotonic()
    ctx = build_context(turns, context=ContextPolicy(), images=policy)
    assert len(ctx.images) == 4 and all(isinstance(i, ImageInput) for i in ctx.images)
    assert time.monotonic() - t0 < 3.5  # one after another: over 4 s
    tight = policy.model_copy(update={"fetch_total_timeout_s": 0.5})
    t0 = time.monotonic()
    with pytest.raises(ImageFetchError, match="fetch_total_timeout_s"):
        build_context(turns, context=ContextPolicy(), images=tight)
    assert time.monotonic() - t0 < 2.0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM (Linux)")
def test_peak_rss_of_the_largest_request_under_the_caps_stays_bounded(tmp_path: Path) -> None:
    """A request at the caps (7 one-colour 6000x6000 PNGs: 252M pixels) decoded and shrunk in a
    child process: its peak RSS grows by at most 300 MB (all at once: over 1 GB)."""
    big = tmp_path / "big.png"
    big.write_bytes(png(6000, 6000))
    code = f"""
import base64, pathlib
def hwm():  # this process's peak RSS in kB (ru_maxrss would carry the parent's over exec)
    line = next(x for x in open("/proc/self/status") if x.startswith("VmHWM:"))
    return int(line.split()[1])
from echosafe_guard.context import ImageRef, Turn, build_context
from echosafe_guard.images import open_rgb
from echosafe_guard.policy.models import ContextPolicy, ImagePolicy
def request(data, n):
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    turns = [Turn(text="x", images=tuple(ImageRef(url) for _ in range(n)))]
    return build_context(turns, context=ContextPolicy(), images=ImagePolicy()).images
data = pathlib.Path({str(big)!r}).read_bytes()
[open_rgb(i) for i in request(pathlib.Path({str(big)!r}).with_name("small.png").read_bytes(), 1)]
base = hwm()
shrunk = [open_rgb(i) for i in request(data, 7)]
print(hwm() - base)
"""
    (tmp_path / "small.png").write_bytes(png(64, 64))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    grown_mb = int(out.stdout.strip().splitlines()[-1]) / 1024
    assert 20 < grown_mb <= 300, grown_mb  # one decode at a time (at least one was measured)
