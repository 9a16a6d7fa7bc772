"""Hostile images for the security suite, built cheaply: a PNG header declares any size."""

from __future__ import annotations

import struct
import time
import zlib
from http.server import BaseHTTPRequestHandler
from io import BytesIO

from PIL import Image


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width x height`` (its pixel data is cut short: only
    a decode would notice)."""
    buf = BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = 8 + 8  # signature, then the IHDR chunk's length and type
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13])) & 0xFFFFFFFF
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    """A real PNG (one colour: a few KB even for tens of megapixels)."""
    buf = BytesIO()
    Image.new(mode, (width, height)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def mpo(size: tuple[int, int] = (64, 48)) -> bytes:
    """A phone camera's multi-picture JPEG (two pictures)."""
    a, b = Image.new("RGB", size, "red"), Image.new("RGB", size, "blue")
    buf = BytesIO()
    a.save(buf, format="MPO", save_all=True, append_images=[b])
    return buf.getvalue()


class SlowHandler(BaseHTTPRequestHandler):
    """``/drip?n``: a valid PNG's bytes one every 0.2 s; ``/wait?s``: the PNG after s seconds."""

    body = png(8, 8)

    def do_GET(self) -> None:
        path, _, arg = self.path.partition("?")
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        if path.startswith("/wait"):
            time.sleep(float(arg.split("&")[0] or 1))
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body)
            return
        self.end_headers()
        try:
            for byte in self.body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass
