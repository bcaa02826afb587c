"""What an uploaded file is, by its content alone: its first bytes say which format it claims,
and a small validator of that format walks its structure as the bytes stream past, holding
no more than the piece in hand and a few bytes of a header. A file is known well-formed, to
its last byte, without ever being held whole. Pure: no I/O.

Each format is a walk, a generator that yields how many bytes it needs to have in hand
before it goes on (`yield n`) and reads them from the `_Input` it was given; the `Validator`
feeds pieces of any size into the input and resumes the walk while it has what it needs.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Generator
from enum import StrEnum

from chassis.errors import RuleViolation


class ImageKind(StrEnum):
    """The formats stored, as their media types."""

    JPEG = "image/jpeg"
    PNG = "image/png"
    GIF = "image/gif"

    @property
    def label(self) -> str:
        return self.name


class NotAnImage(RuleViolation):
    """The content is not of a format stored (the web answers 415)."""

    def __init__(self) -> None:
        super().__init__("The file is not a JPEG, PNG or GIF image.")


class BrokenImage(RuleViolation):
    """The content starts as a format stored but breaks its structure (422)."""


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_START = b"\xff\xd8\xff"
GIF_HEADERS = (b"GIF87a", b"GIF89a")
# Enough of a file's start to tell the formats apart: the longest signature, PNG's.
SNIFF_BYTES = len(PNG_SIGNATURE)


def sniff(head: bytes) -> ImageKind:
    """The format whose signature `head` (a file's first bytes, SNIFF_BYTES of them unless
    the file is shorter) starts with; NotAnImage when none."""
    if head.startswith(PNG_SIGNATURE):
        return ImageKind.PNG
    if head.startswith(JPEG_START):
        return ImageKind.JPEG
    if head[:6] in GIF_HEADERS:
        return ImageKind.GIF
    raise NotAnImage()


class _Input:
    """The bytes fed and not yet read: the last piece fed and what an earlier one left."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pos = 0

    @property
    def available(self) -> int:
        return len(self._buffer) - self._pos

    def add(self, data: bytes) -> None:
        del self._buffer[: self._pos]
        self._pos = 0
        self._buffer += data

    def take(self, n: int) -> bytes:
        """Up to `n` bytes (all of them when that many are available)."""
        piece = bytes(self._buffer[self._pos : self._pos + n])
        self._pos += len(piece)
        return piece

    def peek(self, offset: int) -> int:
        return self._buffer[self._pos + offset]

    def find(self, byte: int) -> int:
        """Where `byte` is among the available bytes, counted from the first; -1 if not."""
        found = self._buffer.find(byte, self._pos)
        return found - self._pos if found >= 0 else -1


# A walk yields how many bytes it needs in hand to go on, and ends at the format's last byte.
Walk = Generator[int, None, None]


def _read(source: _Input, n: int) -> Generator[int, None, bytes]:
    if source.available < n:
        yield n
    return source.take(n)


def _skip(source: _Input, n: int, crc: int = 0) -> Generator[int, None, int]:
    """Pass `n` bytes, however many that is, a piece at a time; their CRC-32 on `crc`."""
    while n:
        if not source.available:
            yield 1
        piece = source.take(n)
        crc = zlib.crc32(piece, crc)
        n -= len(piece)
    return crc


# --- PNG: the signature, then chunks (length, type, data, CRC), IHDR first, IEND last ---------


def _png(source: _Input) -> Walk:
    yield from _read(source, len(PNG_SIGNATURE))
    chunk_type = b""
    first, has_data = True, False
    while chunk_type != b"IEND":
        length, chunk_type = struct.unpack(">I4s", (yield from _read(source, 8)))
        name = chunk_type.decode("latin-1")
        if not chunk_type.isalpha():
            raise BrokenImage("the PNG file has a chunk of no valid type")
        if length >= 2**31:
            raise BrokenImage(f"the PNG chunk {name} is longer than PNG allows")
        if first and (chunk_type != b"IHDR" or length != 13):
            raise BrokenImage("the PNG file does not start with its 13-byte header chunk (IHDR)")
        crc = yield from _skip(source, length, zlib.crc32(chunk_type))
        if int.from_bytes((yield from _read(source, 4)), "big") != crc:
            raise BrokenImage(f"the PNG chunk {name} fails its CRC check")
        first, has_data = False, has_data or chunk_type == b"IDAT"
    if not has_data:
        raise BrokenImage("the PNG file has no image data (IDAT)")


# --- GIF: header, screen descriptor, colour table, then blocks to the trailer -----------------

GIF_EXTENSION, GIF_IMAGE, GIF_TRAILER = 0x21, 0x2C, 0x3B


def _colour_table(packed: int) -> int:
    """The size of the colour table a descriptor's packed byte announces (0: none)."""
    return 3 * 2 ** ((packed & 0x07) + 1) if packed & 0x80 else 0


def _sub_blocks(source: _Input) -> Walk:
    """Data sub-blocks, each a size byte and that many bytes, up to an empty one."""
    while size := (yield from _read(source, 1))[0]:
        yield from _skip(source, size)


def _gif(source: _Input) -> Walk:
    yield from _read(source, 6)
    screen = yield from _read(source, 7)
    yield from _skip(source, _colour_table(screen[4]))
    images = 0
    while (introducer := (yield from _read(source, 1))[0]) != GIF_TRAILER:
        if introducer == GIF_EXTENSION:
            yield from _read(source, 1)  # the label: any extension is sub-blocks
        elif introducer == GIF_IMAGE:
            descriptor = yield from _read(source, 9)
            yield from _skip(source, _colour_table(descriptor[8]))
            code_size = (yield from _read(source, 1))[0]
            if not 2 <= code_size <= 8:
                raise BrokenImage("a GIF image has an LZW code size GIF does not allow")
            images += 1
        else:
            raise BrokenImage(f"the GIF file has a block of unknown kind (0x{introducer:02X})")
        yield from _sub_blocks(source)
    if not images:
        raise BrokenImage("the GIF file holds no image")


# --- JPEG: SOI, marker segments to SOS, entropy-coded data (scans) to EOI ----------------------

SOI, EOI, SOS, TEM = 0xD8, 0xD9, 0xDA, 0x01
RST = range(0xD0, 0xD8)
# Start-of-frame markers: C0 to CF, but for DHT (C4), JPG (C8) and DAC (CC).
SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _marker(source: _Input) -> Generator[int, None, int]:
    """The next marker's code, past any fill bytes (FF) before it."""
    if (yield from _read(source, 1))[0] != 0xFF:
        raise BrokenImage("the JPEG file has data where a marker should be")
    while (code := (yield from _read(source, 1))[0]) == 0xFF:
        pass
    return code


def _entropy_coded(source: _Input) -> Walk:
    """A scan's data up to the marker that ends it, which is left to read: an FF in the data
    is followed by 00 (stuffed) or a restart marker, anything else is a marker."""
    while True:
        if not source.available:
            yield 1
        at = source.find(0xFF)
        if at < 0:
            source.take(source.available)
            continue
        source.take(at)
        if source.available < 2:
            yield 2
        following = source.peek(1)
        if following == 0x00 or following in RST:
            source.take(2)
        elif following == 0xFF:
            source.take(1)  # a fill byte before a marker
        else:
            return


def _jpeg(source: _Input) -> Walk:
    yield from _read(source, 2)
    framed = scanned = False
    while (code := (yield from _marker(source))) != EOI:
        if code == SOI or code == 0x00 or code in RST:
            raise BrokenImage(f"the JPEG file has a marker out of place (FF{code:02X})")
        if code == TEM:
            continue
        length = int.from_bytes((yield from _read(source, 2)), "big")
        if length < 2:
            raise BrokenImage(f"the JPEG segment FF{code:02X} has a length below its own size")
        yield from _skip(source, length - 2)
        framed = framed or code in SOF
        if code == SOS:
            if not framed:
                raise BrokenImage("the JPEG file has a scan before its frame header")
            scanned = True
            yield from _entropy_coded(source)
    if not scanned:
        raise BrokenImage("the JPEG file ends before any image data")


_WALKS: dict[ImageKind, Callable[[_Input], Walk]] = {
    ImageKind.PNG: _png,
    ImageKind.GIF: _gif,
    ImageKind.JPEG: _jpeg,
}


class Validator:
    """Checks one file of `kind` as its bytes come, in pieces of any size: `feed` each, then
    `finish`. Either raises BrokenImage as soon as the structure breaks; memory held is the
    piece fed and a few bytes of a header."""

    def __init__(self, kind: ImageKind) -> None:
        self.kind = kind
        self._input = _Input()
        self._walk = _WALKS[kind](self._input)
        self._need: int | None = next(self._walk)

    def feed(self, data: bytes) -> None:
        if self._need is None:
            if data:
                raise BrokenImage(f"the {self.kind.label} file has data after its end")
            return
        self._input.add(data)
        while self._need is not None and self._input.available >= self._need:
            try:
                self._need = next(self._walk)
            except StopIteration:
                self._need = None
        if self._need is None and self._input.available:
            raise BrokenImage(f"the {self.kind.label} file has data after its end")

    def finish(self) -> None:
        """Every byte was fed: the file must have reached its end."""
        if self._need is not None:
            raise BrokenImage(f"the {self.kind.label} file is truncated")
