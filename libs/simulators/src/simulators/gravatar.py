"""A local avatar server speaking Gravatar's public avatar API, for tests and `make run`.

Like the real one (https://docs.gravatar.com/api/avatars/images/) it serves
`GET /avatar/{hash}` (and `/avatar/{hash}.png`), `hash` the SHA-256 (or the older MD5) hex
of the trimmed, lower-cased email address, with the query parameters:

- `s` or `size`: the side in pixels, 1 to 2048 (80 by default); beyond is 400;
- `d` or `default`: what to serve for an address with no avatar: `404` answers 404, anything
  else (or nothing) a plain grey square, as the real one serves a generated default.

Which addresses have an avatar is a fixed rule, so tests can choose: those whose hash starts
with a hex digit from 0 to 3 have none (a quarter of them); every other address has a PNG
identicon drawn from its hash (a symmetric 5 by 5 pattern in a colour taken from the hash),
the same image each time.

For tests:

- `GET /_simulator/requests`: `{"requests": [{"hash", "size", "default"}]}`, the avatar
  requests served, oldest first (also what a health probe reads);
- `POST /_simulator/fail` `{"status": 503, "times": 3}`: the next 3 avatar requests answer
  that status;
- `POST /_simulator/slow` `{"seconds": 2, "times": 1}`: the next avatar request waits that
  long before it answers;
- `DELETE /_simulator/requests`: forget the requests and any failure or slowness told.

    python -m simulators.gravatar --port 8193 [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from simulators.faults import Faults

DEFAULT_PORT = 8193
DEFAULT_SIZE = 80
MAX_SIZE = 2048
HASH = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{64})$")
GRID = 5
BACKGROUND = (240, 240, 240)
DEFAULT_GREY = (200, 200, 200)


def has_avatar(email_hash: str) -> bool:
    """The simulator's rule: hashes starting 0 to 3 have no avatar."""
    return email_hash[0] not in "0123"


def png(pixels: list[bytes], side: int) -> bytes:
    """A truecolour PNG of `side` by `side` from its rows of RGB bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    # Each row starts with its filter type: 0, none.
    raw = b"".join(b"\x00" + row for row in pixels)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def identicon(email_hash: str, side: int) -> bytes:
    """The hash's identicon: cells of the left three columns lit by the parity of its
    digits, mirrored."""
    digits = [int(c, 16) for c in email_hash]
    colour = bytes((digits[-6] * 16 + digits[-5], digits[-4] * 16 + digits[-3], digits[-2] * 16))
    lit = [
        [digits[row * 3 + min(col, GRID - 1 - col)] % 2 == 0 for col in range(GRID)]
        for row in range(GRID)
    ]
    background = bytes(BACKGROUND)
    # One row of pixels per row of cells, each drawn once.
    drawn = [
        b"".join(colour if cells[x * GRID // side] else background for x in range(side))
        for cells in lit
    ]
    rows = [drawn[y * GRID // side] for y in range(side)]
    return png(rows, side)


def plain(side: int) -> bytes:
    return png([bytes(DEFAULT_GREY) * side] * side, side)


class SlowRequest(BaseModel):
    seconds: float = Field(gt=0, le=60)
    times: int = Field(default=1, ge=1)


@dataclass
class Simulator:
    faults: Faults = field(default_factory=Faults)
    requests: list[dict[str, Any]] = field(default_factory=list)
    # [seconds, requests still to delay], oldest first.
    slow: list[list[float]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/avatar/{hash}", self._avatar),
                web.get("/_simulator/requests", self._show),
                web.delete("/_simulator/requests", self._forget),
                web.post("/_simulator/fail", self.faults.told),
                web.post("/_simulator/slow", self._slow),
            ]
        )
        return app

    async def _avatar(self, request: web.Request) -> web.Response:
        email_hash = request.match_info["hash"].lower().removesuffix(".png")
        if not HASH.match(email_hash):
            return web.Response(status=404, text="Not Found")
        query = request.query
        size_text = query.get("s") or query.get("size") or str(DEFAULT_SIZE)
        default = query.get("d") or query.get("default")
        if not size_text.isdigit() or not 1 <= int(size_text) <= MAX_SIZE:
            return web.Response(status=400, text=f"size must be 1 to {MAX_SIZE}")
        size = int(size_text)
        self.requests.append({"hash": email_hash, "size": size, "default": default})
        if self.slow:
            delay = self.slow[0]
            delay[1] -= 1
            if delay[1] <= 0:
                self.slow.pop(0)
            await asyncio.sleep(delay[0])
        if (status := self.faults.take()) is not None:
            return web.Response(status=status, text="simulated failure")
        if has_avatar(email_hash):
            image = identicon(email_hash, size)
        elif default == "404":
            return web.Response(status=404, text="Not Found")
        else:
            image = plain(size)
        return web.Response(
            body=image, content_type="image/png", headers={"Cache-Control": "max-age=300"}
        )

    async def _show(self, _: web.Request) -> web.Response:
        return web.json_response({"requests": self.requests})

    async def _forget(self, _: web.Request) -> web.Response:
        self.requests.clear()
        self.slow.clear()
        self.faults.clear()
        return web.Response(status=204)

    async def _slow(self, request: web.Request) -> web.Response:
        try:
            slow = SlowRequest.model_validate_json(await request.read())
        except ValidationError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        self.slow.append([slow.seconds, slow.times])
        return web.Response(status=204)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    web.run_app(Simulator().app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
