"""Accepting images from a request: data URLs, allow-listed remote URLs and local files.

Every image passes the same gate before anything decodes its pixels: a cap on the encoded bytes,
a header-only look with Pillow restricted to the policy's formats, and a cap on the declared
pixel count (decompression bombs). Remote URLs are fetched only from hosts on
``images.fetch_allow_hosts`` and never through a redirect; any other remote image is skipped.
Errors are :class:`~echosafe_guard.exceptions.ImageError` subclasses whose messages name the
offending part of the request (``where``) and never a full URL query string.

Memory is bounded before any decode: pixels, longest side and aspect ratio are checked on the
header (an embedder scales the short side up: a thin image would take gigabytes), and the
request's images together on their declared pixels (``build_context``). :func:`open_rgb` decodes
one image and shrinks it at once, so a request's images are never held at full size together.
A fetch has a whole-body deadline; a request's fetches run in parallel within a total one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http.client
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from email.message import Message
from io import BytesIO
from pathlib import Path
from typing import IO, NoReturn
from urllib.parse import urlsplit

from PIL import Image

from echosafe_guard.exceptions import ImageDecodeError, ImageFetchError, ImageTooLargeError
from echosafe_guard.image_cache import AcceptedUrls
from echosafe_guard.policy.models import ImagePolicy

__all__ = [
    "ImageInput",
    "SkippedImage",
    "decode_data_url",
    "fetch_image",
    "image_from_bytes",
    "image_from_file",
    "open_rgb",
    "resolve_image_url",
    "resolve_image_urls",
]

# What Pillow raises on hostile or broken input (UnidentifiedImageError is an OSError).
_PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)
_BOMB_ERRORS = (Image.DecompressionBombError,)
_WHITESPACE = str.maketrans("", "", " \t\n\r\f\v")


@dataclass(frozen=True)
class ImageInput:
    """An accepted image: its encoded bytes and what its header declares."""

    where: str
    source: str
    data: bytes
    sha256: str
    format: str
    width: int
    height: int


@dataclass(frozen=True)
class SkippedImage:
    """A remote image that was deliberately not fetched."""

    where: str
    reason: str
    detail: str


def _too_many_bytes(where: str, size: int, cap: int) -> NoReturn:
    raise ImageTooLargeError(
        f"{where}: image is {size} bytes, over the cap of {cap} bytes (images.max_encoded_bytes)"
    )


def _safe_url(url: str) -> str:
    """The URL without credentials, query string or fragment, for messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable url>"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _check_size(where: str, width: int, height: int, policy: ImagePolicy) -> None:
    """Pixels, longest side and aspect ratio, from the header: before any decode or resize."""
    if width * height > policy.max_pixels:
        raise ImageTooLargeError(
            f"{where}: image is {width}x{height} = {width * height} pixels, over the cap of "
            f"{policy.max_pixels} pixels (images.max_pixels)"
        )
    if max(width, height) > policy.max_side:
        raise ImageTooLargeError(
            f"{where}: image is {width}x{height}, a side over {policy.max_side} pixels "
            "(images.max_side)"
        )
    if min(width, height) < 1 or max(width, height) / min(width, height) > policy.max_aspect:
        raise ImageTooLargeError(
            f"{where}: image is {width}x{height}, an aspect ratio over {policy.max_aspect:g} "
            "(images.max_aspect)"
        )


def image_from_bytes(data: bytes, *, where: str, source: str, policy: ImagePolicy) -> ImageInput:
    """Check encoded image bytes against the policy by reading only the header."""
    if len(data) > policy.max_encoded_bytes:
        _too_many_bytes(where, len(data), policy.max_encoded_bytes)
    allowed = sorted(policy.formats)
    bomb: Exception | None = None
    try:
        # No warnings.catch_warnings() here: it swaps process-wide state and is not thread-safe.
        # Pillow raises DecompressionBombError past 2x its global limit; below that our own
        # max_pixels cap (checked next) decides.
        with Image.open(BytesIO(data), formats=allowed) as img:
            fmt, (width, height) = img.format or "", img.size
    except _BOMB_ERRORS as exc:
        bomb = exc
    except _PIL_ERRORS as exc:
        raise ImageDecodeError(
            f"{where}: not a readable image in an accepted format {allowed}: {exc}"
        ) from exc
    if bomb is not None:
        raise ImageTooLargeError(f"{where}: image declares too many pixels: {bomb}") from bomb
    if fmt == "MPO" and "JPEG" in policy.formats:
        fmt = "JPEG"  # a phone camera's multi-picture JPEG: its first picture is a JPEG
    if fmt not in policy.formats:
        raise ImageDecodeError(f"{where}: image format {fmt!r} is not accepted; allowed {allowed}")
    _check_size(where, width, height, policy)
    return ImageInput(
        where=where,
        source=source,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        format=fmt,
        width=width,
        height=height,
    )


_ACCEPTED: AcceptedUrls[ImageInput] = AcceptedUrls()


def decode_data_url(url: str, *, where: str, policy: ImagePolicy) -> ImageInput:
    """Decode a ``data:image/...;base64,...`` URL (an already accepted one comes from cache)."""
    hit = _ACCEPTED.get(url, policy)
    if hit is not None:
        return replace(hit, where=where)
    image = _decode_data_url(url, where=where, policy=policy)
    _ACCEPTED.put(url, policy, image)
    return image


def _decode_data_url(url: str, *, where: str, policy: ImagePolicy) -> ImageInput:
    if url[:5].lower() != "data:" or "," not in url:
        raise ImageDecodeError(f"{where}: not a data URL")
    header, payload = url[5:].split(",", 1)
    media_type, *params = (p.strip().lower() for p in header.split(";"))
    if not media_type.startswith("image/"):
        raise ImageDecodeError(f"{where}: data URL media type {media_type!r} is not image/*")
    if "base64" not in params:
        raise ImageDecodeError(f"{where}: data URL is not base64-encoded (';base64' missing)")
    payload = payload.translate(_WHITESPACE)
    estimate = len(payload) * 3 // 4
    if estimate > policy.max_encoded_bytes:
        _too_many_bytes(where, estimate, policy.max_encoded_bytes)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageDecodeError(f"{where}: data URL payload is not valid base64: {exc}") from exc
    return image_from_bytes(data, where=where, source="data_url", policy=policy)


def _allowed_host(url: str, policy: ImagePolicy) -> tuple[str, bool]:
    host = (urlsplit(url).hostname or "").lower()
    allowed = {h.lower() for h in policy.fetch_allow_hosts}
    return host, bool(host) and host in allowed


def resolve_image_url(url: str, *, where: str, policy: ImagePolicy) -> ImageInput | SkippedImage:
    """Turn an image URL from a request into an image, or a skip for non-allowed remote hosts."""
    if url[:5].lower() == "data:":
        # Never hand a data URL to urlsplit: it caches its last inputs, megabytes each.
        return decode_data_url(url, where=where, policy=policy)
    try:
        scheme = urlsplit(url).scheme.lower()
        host, allowed = _allowed_host(url, policy)
    except ValueError as exc:
        raise ImageDecodeError(f"{where}: image URL cannot be parsed: {exc}") from exc
    if scheme == "data":
        return decode_data_url(url, where=where, policy=policy)
    if scheme in ("http", "https"):
        if allowed:
            return fetch_image(url, where=where, policy=policy)
        return SkippedImage(
            where=where,
            reason="remote_not_allowed",
            detail=f"remote image on host {host!r} not fetched: host not in "
            "images.fetch_allow_hosts",
        )
    raise ImageDecodeError(
        f"{where}: image URL scheme {scheme or '(none)'!r} is not accepted; "
        "use a data: URL or an allow-listed http(s) URL"
    )


_FETCH_WORKERS = 4


def resolve_image_urls(
    urls: Sequence[tuple[str, str]], *, policy: ImagePolicy
) -> list[ImageInput | SkippedImage]:
    """:func:`resolve_image_url` for each ``(url, where)``, in order. Allow-listed remote images
    are fetched in parallel (a few at a time) within ``images.fetch_total_timeout_s`` in all;
    the first error in request order is raised."""
    out: list[ImageInput | SkippedImage | None] = [None] * len(urls)
    remote: dict[int, tuple[str, str]] = {}
    for n, (url, where) in enumerate(urls):
        try:
            is_remote = url[:5].lower() != "data:" and _allowed_host(url, policy)[1]
        except ValueError:
            is_remote = False
        if is_remote:
            remote[n] = (url, where)
        else:
            out[n] = resolve_image_url(url, where=where, policy=policy)
    if remote:
        pool = ThreadPoolExecutor(min(_FETCH_WORKERS, len(remote)), "echosafe-fetch")
        try:
            futures = {
                n: pool.submit(fetch_image, url, where=where, policy=policy)
                for n, (url, where) in remote.items()
            }
            wait(futures.values(), timeout=policy.fetch_total_timeout_s)
            for n, fut in sorted(futures.items()):
                if not fut.done():
                    raise ImageFetchError(
                        f"{remote[n][1]}: image fetches took over "
                        f"{policy.fetch_total_timeout_s:g}s (images.fetch_total_timeout_s)"
                    )
                out[n] = fut.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
    return [x for x in out if x is not None]


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could leave the allow-list, so every redirect is an error."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        raise urllib.error.HTTPError(req.full_url, code, f"redirect refused ({msg})", headers, fp)


def _read_body(resp: http.client.HTTPResponse, limit: int, deadline: float) -> bytes:
    """At most ``limit`` bytes of the body, read one socket receive at a time, so that a host
    dripping bytes cannot hold the fetch past ``deadline`` (plus one socket timeout)."""
    chunks: list[bytes] = []
    got = 0
    while got < limit:
        if time.monotonic() > deadline:
            raise TimeoutError("whole-body deadline passed")
        chunk = resp.read1(min(65536, limit - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def fetch_image(url: str, *, where: str, policy: ImagePolicy) -> ImageInput:
    """Fetch an image from an allow-listed http(s) host; redirects are refused."""
    safe = _safe_url(url)
    try:
        scheme = urlsplit(url).scheme.lower()
        _, allowed = _allowed_host(url, policy)
    except ValueError as exc:
        raise ImageFetchError(f"{where}: image URL cannot be parsed: {exc}") from exc
    if scheme not in ("http", "https") or not allowed:
        raise ImageFetchError(f"{where}: {safe} is not an allow-listed http(s) image URL")
    cap = policy.max_encoded_bytes
    opener = urllib.request.build_opener(_RefuseRedirects())
    request = urllib.request.Request(url, headers={"Accept": "image/*"})
    deadline = time.monotonic() + policy.fetch_timeout_s
    try:
        with opener.open(request, timeout=policy.fetch_timeout_s) as resp:
            status = resp.status
            length = resp.headers.get("Content-Length", "")
            if status == 200 and not (length.isdigit() and int(length) > cap):
                data = _read_body(resp, cap + 1, deadline)
            else:
                data = b""
    except TimeoutError as exc:
        raise ImageFetchError(
            f"{where}: fetching {safe} took over {policy.fetch_timeout_s:g}s "
            "(images.fetch_timeout_s)"
        ) from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # urllib.error.URLError/HTTPError and timeouts are all OSErrors.
        raise ImageFetchError(f"{where}: fetching {safe} failed: {exc}") from exc
    if status != 200:
        raise ImageFetchError(f"{where}: fetching {safe} returned HTTP {status}, not 200")
    if length.isdigit() and int(length) > cap:
        _too_many_bytes(where, int(length), cap)
    if len(data) > cap:
        _too_many_bytes(where, len(data), cap)
    return image_from_bytes(data, where=where, source="url", policy=policy)


def image_from_file(path: str | Path, *, policy: ImagePolicy) -> ImageInput:
    """Read an image file named on the command line."""
    where = str(path)
    cap = policy.max_encoded_bytes
    try:
        p = Path(path)
        size = p.stat().st_size
        if not p.is_file():
            raise ImageDecodeError(f"{where}: not a regular file")
        if size > cap:
            _too_many_bytes(where, size, cap)
        with p.open("rb") as fh:
            data = fh.read(cap + 1)
    except OSError as exc:
        raise ImageDecodeError(f"{where}: cannot read image file: {exc}") from exc
    return image_from_bytes(data, where=where, source="file", policy=policy)


DECODED_MAX_SIDE = 1024
"""An image handed to an embedder is at most this long on its longer side (CLIP models read
224-448 pixels): each image is shrunk right after its decode, so a request's images are never
held at full size together."""


def _shrunk(img: Image.Image) -> Image.Image:
    """``img`` (loaded) reduced to at most ``DECODED_MAX_SIDE`` on its longer side, in RGB."""
    factor = -(-max(img.size) // DECODED_MAX_SIDE)
    if factor > 1 and img.mode not in ("RGB", "RGBA", "L", "LA"):
        img = img.convert("RGB")
    if factor > 1:
        img = img.reduce(factor)
    return img.convert("RGB")  # a copy even in RGB: the opened image is closed after this


def open_rgb(image: ImageInput) -> Image.Image:
    """Decode an accepted image (first frame of an animation or a multi-picture JPEG) to RGB,
    shrunk to at most ``DECODED_MAX_SIDE`` on its longer side. A JPEG is decoded at a reduced
    scale straight away; other formats are decoded once at full size (bounded by the caps
    checked on the header) and shrunk before anything else is allocated."""
    bomb: Exception | None = None
    try:
        with Image.open(BytesIO(image.data), formats=[image.format]) as img:
            size = img.size
            if size == (image.width, image.height):
                img.seek(0)
                if image.format == "JPEG":
                    img.draft("RGB", (DECODED_MAX_SIDE, DECODED_MAX_SIDE))
                img.load()
                rgb = _shrunk(img)
    except _BOMB_ERRORS as exc:
        bomb = exc
    except _PIL_ERRORS as exc:
        raise ImageDecodeError(f"{image.where}: image cannot be decoded: {exc}") from exc
    if bomb is not None:
        raise ImageTooLargeError(f"{image.where}: image has too many pixels: {bomb}") from bomb
    if size != (image.width, image.height):
        raise ImageDecodeError(
            f"{image.where}: image is {size[0]}x{size[1]}, not the checked "
            f"{image.width}x{image.height}"
        )
    return rgb
