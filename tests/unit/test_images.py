"""Tests of echosafe_guard.images: the image gate, data URLs, remote fetches and files."""

from __future__ import annotations

import base64
import socket
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from echosafe_guard.exceptions import (
    ImageDecodeError,
    ImageFetchError,
    ImageTooLargeError,
    InputError,
)
from echosafe_guard.images import (
    ImageInput,
    SkippedImage,
    decode_data_url,
    fetch_image,
    image_from_bytes,
    image_from_file,
    open_rgb,
    resolve_image_url,
)
from echosafe_guard.policy.models import ImagePolicy
from tests.loopback_server import loopback_server

WHERE = "messages[2].content[1]"
POLICY = ImagePolicy()


def encode(fmt: str, size: tuple[int, int] = (8, 6), mode: str = "RGB") -> bytes:
    buf = BytesIO()
    Image.new(mode, size, color=(200, 30, 40) if mode == "RGB" else 1).save(buf, format=fmt)
    return buf.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (5, 4), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    return buf.getvalue()


def data_url(data: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_accepts_allowed_formats(fmt: str) -> None:
    data = encode(fmt)
    img = image_from_bytes(data, where=WHERE, source="file", policy=POLICY)
    assert (img.format, img.width, img.height, img.where) == (fmt, 8, 6, WHERE)
    assert len(img.sha256) == 64
    rgb = open_rgb(img)
    assert rgb.mode == "RGB" and rgb.size == (8, 6)


def test_animated_gif_uses_first_frame() -> None:
    img = image_from_bytes(animated_gif(), where=WHERE, source="file", policy=POLICY)
    rgb = open_rgb(img)
    assert rgb.size == (5, 4)
    assert rgb.getpixel((0, 0)) == (255, 0, 0)


def test_data_url_round_trip() -> None:
    data = encode("PNG")
    img = decode_data_url(data_url(data), where=WHERE, policy=POLICY)
    assert img.data == data and img.source == "data_url" and img.format == "PNG"
    assert resolve_image_url(data_url(data), where=WHERE, policy=POLICY) == img


def test_data_url_whitespace_in_payload() -> None:
    b64 = base64.b64encode(encode("PNG")).decode()
    wrapped = "\n ".join(b64[i : i + 20] for i in range(0, len(b64), 20))
    img = decode_data_url(f"DATA:image/PNG;base64,\r\n{wrapped}\t", where=WHERE, policy=POLICY)
    assert img.format == "PNG"


@pytest.mark.parametrize(
    "url",
    [
        "data:image/png;base64,@@@not base64@@@",
        "data:image/png;base64,AAA",  # bad padding
        "data:text/plain;base64,AAAA",
        "data:image/png,rawbytes",
        "data:image/png;base64",
        "data:image/png;base64," + base64.b64encode(b"just some text, no image").decode(),
    ],
)
def test_bad_data_urls(url: str) -> None:
    with pytest.raises(ImageDecodeError, match=r"messages\[2\]"):
        decode_data_url(url, where=WHERE, policy=POLICY)


def test_non_image_bytes() -> None:
    with pytest.raises(ImageDecodeError, match=r"messages\[2\]") as info:
        image_from_bytes(b"\x00" * 100, where=WHERE, source="file", policy=POLICY)
    assert isinstance(info.value, InputError) and info.value.__cause__ is not None


def test_truncated_png_passes_header_fails_decode() -> None:
    noisy = Image.effect_noise((64, 64), 50).convert("RGB")
    buf = BytesIO()
    noisy.save(buf, format="PNG")
    data = buf.getvalue()
    img = image_from_bytes(data[: len(data) // 2], where=WHERE, source="file", policy=POLICY)
    with pytest.raises(ImageDecodeError, match=r"messages\[2\]"):
        open_rgb(img)


def test_unsupported_format() -> None:
    data = encode("BMP")
    with pytest.raises(ImageDecodeError, match=r"messages\[2\]"):
        image_from_bytes(data, where=WHERE, source="file", policy=POLICY)
    only_png = ImagePolicy(formats=frozenset({"PNG"}))
    with pytest.raises(ImageDecodeError, match=r"messages\[2\]"):
        image_from_bytes(encode("JPEG"), where=WHERE, source="file", policy=only_png)


def test_byte_cap_raw_and_data_url() -> None:
    data = encode("PNG")
    tight = ImagePolicy(max_encoded_bytes=len(data) - 1)
    with pytest.raises(ImageTooLargeError, match=r"messages\[2\]"):
        image_from_bytes(data, where=WHERE, source="file", policy=tight)
    # The data URL is refused on its length estimate, before any base64 decoding.
    huge = "data:image/png;base64," + "!" * 4000
    with pytest.raises(ImageTooLargeError, match=r"messages\[2\]"):
        decode_data_url(huge, where=WHERE, policy=ImagePolicy(max_encoded_bytes=1000))


def test_decompression_bomb_policy_cap() -> None:
    data = encode("PNG", size=(20000, 20000), mode="1")
    assert len(data) < 200_000
    with pytest.raises(ImageTooLargeError, match=r"messages\[2\]"):
        image_from_bytes(data, where=WHERE, source="file", policy=POLICY)
    with pytest.raises(ImageTooLargeError, match=r"messages\[2\]"):
        image_from_bytes(
            encode("PNG"), where=WHERE, source="file", policy=ImagePolicy(max_pixels=47)
        )


def test_decompression_bomb_pillow_limit_is_mapped(monkeypatch: pytest.MonkeyPatch) -> None:
    # Past twice Pillow's global limit Image.open raises DecompressionBombError: ours, typed.
    # Between one and two times it only warns; our own max_pixels cap decides there, and no
    # process-wide warnings filter is touched (that is not thread-safe).
    filters = list(warnings.filters)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20)
    with pytest.raises(ImageTooLargeError, match=r"messages\[2\]") as info:
        image_from_bytes(encode("PNG"), where=WHERE, source="file", policy=POLICY)
    assert isinstance(info.value.__cause__, Image.DecompressionBombError)
    assert warnings.filters == filters


def test_remote_not_allowed_is_skipped() -> None:
    url = "https://Images.Example.com/cat.png?token=secret123"
    skipped = resolve_image_url(url, where=WHERE, policy=POLICY)
    assert isinstance(skipped, SkippedImage)
    assert skipped.reason == "remote_not_allowed" and skipped.where == WHERE
    assert "images.example.com" in skipped.detail and "secret123" not in skipped.detail


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "javascript:alert(1)", "ftp://example.com/a.png", "cat.png"]
)
def test_other_schemes_rejected(url: str) -> None:
    with pytest.raises(ImageDecodeError, match=r"messages\[2\].*scheme"):
        resolve_image_url(url, where=WHERE, policy=POLICY)


def test_image_from_file(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(encode("JPEG"))
    img = image_from_file(path, policy=POLICY)
    assert (img.source, img.where, img.format) == ("file", str(path), "JPEG")
    with pytest.raises(ImageTooLargeError, match=r"a\.jpg"):
        image_from_file(path, policy=ImagePolicy(max_encoded_bytes=10))
    with pytest.raises(ImageDecodeError, match=r"missing\.png"):
        image_from_file(tmp_path / "missing.png", policy=POLICY)
    with pytest.raises(ImageDecodeError):
        image_from_file(tmp_path, policy=POLICY)


PNG = encode("PNG")


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/ok.png"):
            self._send(200, PNG)
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://example.com/ok.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/big.png":
            self._send(200, PNG + b"\x00" * 5000)
        elif self.path == "/big-nolength.png":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(PNG + b"\x00" * 5000)
            self.close_connection = True
        else:
            self._send(404, b"not found")

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with loopback_server(_Handler, monkeypatch) as url:
        yield url


LOCAL = ImagePolicy(fetch_allow_hosts=("127.0.0.1",), fetch_timeout_s=5)


def test_fetch_allowed_host(server: str) -> None:
    img = resolve_image_url(f"{server}/ok.png?sig=abc", where=WHERE, policy=LOCAL)
    assert isinstance(img, ImageInput)
    assert img.source == "url" and img.data == PNG and img.format == "PNG"


def test_fetch_refuses_redirect(server: str) -> None:
    with pytest.raises(ImageFetchError, match=r"messages\[2\]") as info:
        resolve_image_url(f"{server}/redirect", where=WHERE, policy=LOCAL)
    assert info.value.__cause__ is not None


def test_fetch_404(server: str) -> None:
    with pytest.raises(ImageFetchError, match=r"messages\[2\]"):
        fetch_image(f"{server}/nope.png?key=hidden", where=WHERE, policy=LOCAL)


@pytest.mark.parametrize("path", ["/big.png", "/big-nolength.png"])
def test_fetch_oversized(server: str, path: str) -> None:
    policy = ImagePolicy(fetch_allow_hosts=("127.0.0.1",), max_encoded_bytes=len(PNG) + 100)
    with pytest.raises(ImageTooLargeError, match=r"messages\[2\]"):
        fetch_image(server + path, where=WHERE, policy=policy)


def test_fetch_image_checks_allow_list_itself() -> None:
    with pytest.raises(ImageFetchError, match=r"messages\[2\]"):
        fetch_image("http://10.0.0.1/a.png", where=WHERE, policy=LOCAL)


def test_fetch_timeout() -> None:
    # A listening socket that never answers: the connection opens, the read times out.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        policy = ImagePolicy(fetch_allow_hosts=("127.0.0.1",), fetch_timeout_s=0.3)
        with pytest.raises(ImageFetchError, match=r"messages\[2\]"):
            fetch_image(f"http://127.0.0.1:{port}/x.png", where=WHERE, policy=policy)


def test_accepted_data_urls_are_cached_per_policy() -> None:
    url = "data:image/png;base64," + base64.b64encode(encode("PNG")).decode()
    first = decode_data_url(url, where="messages[0].content[1]", policy=POLICY)
    again = decode_data_url("".join(list(url)), where="messages[4].content[0]", policy=POLICY)
    assert again.sha256 == first.sha256 and again.where == "messages[4].content[0]"
    strict = ImagePolicy(formats=frozenset({"JPEG"}))
    with pytest.raises(ImageDecodeError):  # another policy is checked afresh, never served
        decode_data_url(url, where="messages[0].content[1]", policy=strict)
