"""Image and fetch targets of ``adversarial.py``: memory-bomb images, SSRF against a loopback
server, and peak RSS per image request (split out to keep each file readable)."""

from __future__ import annotations

import base64
import os
import random
import string
import sys
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from harness import REPO
from PIL import Image

sys.path.insert(0, str(REPO))

from echosafe_guard.context import ImageRef, Turn, build_context
from echosafe_guard.exceptions import ImageError
from echosafe_guard.images import (
    DECODED_MAX_SIDE,
    SkippedImage,
    image_from_bytes,
    open_rgb,
    resolve_image_url,
)
from echosafe_guard.policy.loader import load_policy

__all__ = ["Ssrf", "images_case", "images_rss"]


def _token(rng: random.Random, n: int = 10) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, n)))


def _seed_images() -> list[bytes]:
    out = []
    for fmt in ("PNG", "JPEG", "WEBP", "GIF", "MPO"):
        buf = BytesIO()
        img = Image.new("RGB", (37, 23), (120, 30, 200))
        img.save(
            buf, format=fmt, **({"save_all": True, "append_images": [img]} if fmt == "MPO" else {})
        )
        out.append(buf.getvalue())
    return out


def _declaring(width: int, height: int) -> bytes:
    import struct
    import zlib

    buf = BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


def images_case(policy: Any) -> Callable[[random.Random, int], str | None]:
    seeds = _seed_images()

    def case(rng: random.Random, _i: int) -> str | None:
        if rng.random() < 0.4:
            w, h = (int(10 ** rng.uniform(0, 6.5)) for _ in range(2))
            data = _declaring(max(w, 1), max(h, 1))
        else:
            buf = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 6)):
                buf[rng.randrange(len(buf))] = rng.randrange(256)
            data = bytes(buf[: rng.randint(1, len(buf))] if rng.random() < 0.2 else buf)
        try:
            img = image_from_bytes(data, where="fuzz", source="data_url", policy=policy)
        except ImageError:
            return None
        w, h = img.width, img.height
        if (
            w * h > policy.max_pixels
            or max(w, h) > policy.max_side
            or max(w, h) / min(w, h) > policy.max_aspect
        ):
            return f"accepted past the caps: {w}x{h}"
        if w * h > 4_000_000:
            return None  # declared-only giants are not decoded here (images_rss decodes real ones)
        try:
            rgb = open_rgb(img)
        except ImageError:
            return None
        if max(rgb.size) > DECODED_MAX_SIDE:
            return f"decoded image not shrunk: {rgb.size}"
        return None

    return case


class Ssrf:
    """URLs aimed at a loopback server (every spelling of it, credentials, redirects, other
    schemes) under a policy that allows one other host: the server must never be reached."""

    def __init__(self) -> None:
        import threading

        for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
            os.environ.pop(var, None)  # a proxy would hide a fetch from the loopback server
        os.environ["no_proxy"] = "*"
        hits = self.hits = [0]

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits[0] += 1
                self.send_response(302)
                self.send_header("Location", "http://127.0.0.1/")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        self.policy = load_policy().images.model_copy(
            update={"fetch_allow_hosts": ("images.example.invalid",), "fetch_timeout_s": 0.5}
        )

    def case(self, rng: random.Random, _i: int) -> str | None:
        host = rng.choice(
            [
                "127.0.0.1", "localhost", "[::1]", "0x7f.0.0.1", "2130706433", "127.1",
                "images.example.invalid@127.0.0.1", "127.0.0.1#@images.example.invalid",
                "IMAGES.EXAMPLE.INVALID.127.0.0.1.nip.io", "0177.0.0.1", "127.0.0.1.",
            ]
        )  # fmt: skip
        scheme = rng.choice(["http", "https", "HTTP", "file", "ftp", "gopher", "dict", ""])
        url = f"{scheme}://{host}:{self.port}/{_token(rng)}.png?{_token(rng)}"
        before = self.hits[0]
        try:
            got = resolve_image_url(url, where="fuzz", policy=self.policy)
        except ImageError:
            got = None
        if self.hits[0] != before:
            return f"loopback reached by {url!r}"
        if got is not None and not isinstance(got, SkippedImage):
            return f"an image came back from {url!r}"
        return None

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- peak RSS per request --------------------------------------------------------------------


def _hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        line = next(x for x in fh if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        line = next(x for x in fh if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def images_rss(policy: Any, requests: int) -> dict[str, Any]:
    """Requests of real one-colour PNG/JPEG images at the caps, each decoded and shrunk as the
    key builder does; peak RSS above the resident set just before each request."""
    sizes = [(6000, 6000), (12000, 3000), (12000, 600), (6324, 6324), (4000, 3000)]
    files: dict[tuple[int, int, str], str] = {}
    for w, h in sizes:
        for fmt in ("PNG", "JPEG"):
            buf = BytesIO()
            Image.new("RGB", (w, h), (10, 200, 90)).save(buf, format=fmt)
            files[(w, h, fmt)] = (
                f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()
            )
    rng = random.Random("adversarial/rss")
    peaks: list[float] = []
    refused = 0
    for _ in range(requests):
        urls = [files[rng.choice(list(files))] for _ in range(rng.randint(1, 8))]
        Path("/proc/self/clear_refs").write_text("5")
        before = _rss_mb()
        try:
            ctx = build_context(
                [Turn(text="x", images=tuple(ImageRef(u) for u in urls))],
                images=policy,
                context=load_policy().context,
            )
            for img in ctx.images:
                open_rgb(img)
        except ImageError:
            refused += 1
        peaks.append(_hwm_mb() - before)
    return {
        "requests": requests,
        "refused_over_request_pixels": refused,
        "peak_rss_mb_per_request": {
            "max": round(max(peaks), 1),
            "p50": round(float(np.median(peaks)), 1),
            "limit": 300,
            "pass": max(peaks) <= 300,
        },
    }
