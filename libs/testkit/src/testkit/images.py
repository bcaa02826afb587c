"""Real images for tests, written by Pillow: small ones of each format, and a PNG as large as
asked for, produced a piece at a time so that a test can send 100 MiB without holding it."""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import AsyncIterator

from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def noise(size: tuple[int, int], seed: int = 7, mode: str = "RGB") -> Image.Image:
    """An image of random pixels: it compresses badly, as photographs do."""
    rng = random.Random(seed)
    channels = len(Image.new(mode, (1, 1)).getbands())
    return Image.frombytes(mode, size, rng.randbytes(size[0] * size[1] * channels))


def saved(image: Image.Image, format: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format, **options)
    return out.getvalue()


def png(size: tuple[int, int] = (24, 16), seed: int = 7) -> bytes:
    return saved(noise(size, seed), "PNG")


def jpeg(size: tuple[int, int] = (32, 24), seed: int = 7, **options: object) -> bytes:
    return saved(noise(size, seed), "JPEG", **options)


def gif(size: tuple[int, int] = (20, 10), seed: int = 7) -> bytes:
    return saved(noise(size, seed).convert("P"), "GIF")


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


async def png_of_size(total: int, piece_bytes: int = 1024 * 1024) -> AsyncIterator[bytes]:
    """A well-formed start of a PNG `total` bytes long: the signature, a header chunk, then
    one IDAT chunk's length and type and zeros to the end (it never reaches its CRC or IEND).
    Yielded a piece at a time: no more than one piece is ever held."""
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    start = PNG_SIGNATURE + ihdr + struct.pack(">I", 2**31 - 1) + b"IDAT"
    yield start
    zeros = bytes(piece_bytes)
    left = total - len(start)
    while left > 0:
        yield zeros[: min(left, piece_bytes)]
        left -= piece_bytes
