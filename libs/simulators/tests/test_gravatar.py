"""The Gravatar simulator serves each address's identicon as a PNG of the size asked for,
the same every time, answers 404 for addresses its rule gives no avatar when asked to, and
fails or stalls when told to."""

from __future__ import annotations

import hashlib
import struct
import time
import zlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from testkit.gravatar import (
    GravatarSimulator,
    email_with_avatar,
    email_without_avatar,
    served_simulator,
)


@pytest.fixture
async def gravatar() -> AsyncIterator[GravatarSimulator]:
    async with served_simulator() as simulator:
        yield simulator


def sha256(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


async def get(url: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, response.content_type, await response.read()


def decoded(image: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB bytes) of a truecolour PNG, checking every chunk's CRC."""
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, []
    while at < len(image):
        (length,) = struct.unpack(">I", image[at : at + 4])
        kind, data = image[at + 4 : at + 8], image[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", image[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + data) == crc
        chunks.append((kind, data))
        at += 12 + length
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour) == (8, 2)
    raw = zlib.decompress(chunks[1][1])
    stride = 1 + 3 * width
    rows = [raw[y * stride : (y + 1) * stride] for y in range(height)]
    assert all(row[0] == 0 for row in rows)
    return width, height, [row[1:] for row in rows]


async def test_an_address_with_an_avatar_gets_its_identicon_at_the_size_asked(
    gravatar: GravatarSimulator,
) -> None:
    email_hash = sha256(email_with_avatar())
    status, content_type, image = await get(f"{gravatar.url}/avatar/{email_hash}?d=404&s=40")
    assert (status, content_type) == (200, "image/png")
    width, height, rows = decoded(image)
    assert (width, height) == (40, 40)
    # A pattern in two colours, mirrored left to right, and the same image again.
    assert len({row[i : i + 3] for row in rows for i in range(0, len(row), 3)}) == 2
    assert all(row == b"".join(row[i : i + 3] for i in range(len(row) - 3, -1, -3)) for row in rows)
    assert (await get(f"{gravatar.url}/avatar/{email_hash}.png?size=40"))[2] == image
    other = sha256(email_with_avatar())
    assert (await get(f"{gravatar.url}/avatar/{other}?s=40"))[2] != image


async def test_an_address_without_an_avatar_is_404_with_d_404_else_a_plain_default(
    gravatar: GravatarSimulator,
) -> None:
    email = email_without_avatar()
    assert sha256(email)[0] in "0123"
    status, _, _ = await get(f"{gravatar.url}/avatar/{sha256(email)}?d=404")
    assert status == 404
    status, _, image = await get(f"{gravatar.url}/avatar/{sha256(email)}")
    width, _, rows = decoded(image)
    assert (status, width) == (200, 80)
    assert len({row for row in rows}) == 1
    assert [r["default"] for r in await gravatar.requests_for(email)] == ["404", None]


async def test_bad_sizes_and_hashes_are_refused(gravatar: GravatarSimulator) -> None:
    email_hash = sha256(email_with_avatar())
    assert (await get(f"{gravatar.url}/avatar/{email_hash}?s=0"))[0] == 400
    assert (await get(f"{gravatar.url}/avatar/{email_hash}?s=2049"))[0] == 400
    assert (await get(f"{gravatar.url}/avatar/not-a-hash"))[0] == 404


async def test_told_failures_and_slowness_come_in_turn(gravatar: GravatarSimulator) -> None:
    url = f"{gravatar.url}/avatar/{sha256(email_with_avatar())}?d=404"
    await gravatar.fail(503, times=2)
    assert [(await get(url))[0] for _ in range(3)] == [503, 503, 200]
    await gravatar.slow(0.3)
    started = time.monotonic()
    assert (await get(url))[0] == 200
    assert time.monotonic() - started >= 0.3
