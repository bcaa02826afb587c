"""The real gateway app in front of real upstream aiohttp servers, all on free local ports.

Helpers are handed out as fixtures because tests are imported with importlib (no package).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import os
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from chassis.web.server import serving
from gateway.main import create_app
from gateway.settings import GatewaySettings
from testkit.tokens import DevSigningKey

CHUNK_SIZE = 64 * 1024
# One chunk, repeated, makes a large body without holding it whole anywhere.
CHUNK = random.Random(7).randbytes(CHUNK_SIZE)
GZIPPED_TEXT = b"a car for every day " * 500


class Bodies:
    """Large bodies generated chunk by chunk, and what they should hash to."""

    CHUNK = CHUNK
    CHUNK_SIZE = CHUNK_SIZE
    GZIPPED_TEXT = GZIPPED_TEXT

    @staticmethod
    async def generated(size: int) -> AsyncIterator[bytes]:
        for _ in range(size // CHUNK_SIZE):
            yield CHUNK
        if size % CHUNK_SIZE:
            yield CHUNK[: size % CHUNK_SIZE]

    @staticmethod
    def sha256(size: int) -> str:
        digest = hashlib.sha256()
        for _ in range(size // CHUNK_SIZE):
            digest.update(CHUNK)
        digest.update(CHUNK[: size % CHUNK_SIZE])
        return digest.hexdigest()


@pytest.fixture
def bodies() -> type[Bodies]:
    return Bodies


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """The app on a free local port as `run` serves it, its base URL; handlers still running
    are cut short."""
    async with serving(app, "127.0.0.1", 0, shutdown_timeout=0.1) as runner:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
def serve_app() -> Callable[[web.Application], contextlib.AbstractAsyncContextManager[str]]:
    return serve


@dataclass
class Upstream:
    """A stand-in service: records what reached it and answers the test routes."""

    name: str
    url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)
    health_status: int = 200
    health_checks: dict[str, str] = field(default_factory=lambda: {"mongo": "ok"})
    # Instead of a report made of the two above (a test of what the gateway makes of it).
    health_body: Any = None

    @property
    def hits(self) -> int:
        return len(self.seen)

    def app(self) -> web.Application:
        prefix = f"/{self.name}"
        app = web.Application()
        app.add_routes(
            [
                web.get("/health", self.health),
                web.route("*", f"{prefix}/echo", self.echo),
                web.post(f"{prefix}/upload", self.upload),
                web.get(f"{prefix}/download", self.download),
                web.post(f"{prefix}/echo-stream", self.echo_stream),
                web.get(f"{prefix}/slow", self.slow),
                web.route("*", f"{prefix}/reset", self.reset),
                web.get(f"{prefix}/broken-body", self.broken_body),
                web.get(f"{prefix}/hop", self.hop),
                web.get(f"{prefix}/cookie", self.cookie),
                web.get(f"{prefix}/gzip", self.gzipped),
                web.get(f"{prefix}/redirect", self.redirect),
            ]
        )
        return app

    def _record(self, request: web.Request, **extra: Any) -> dict[str, Any]:
        record = {
            "method": request.method,
            "path_qs": request.raw_path,
            "headers": list(request.headers.items()),
            **extra,
        }
        self.seen.append(record)
        return record

    async def health(self, _: web.Request) -> web.Response:
        if self.health_body is not None:
            return web.json_response(self.health_body, status=self.health_status)
        status = "ok" if self.health_status == 200 else "down"
        report = {"service": self.name, "status": status, "checks": self.health_checks}
        return web.json_response(report, status=self.health_status)

    async def echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(self._record(request, body=body.decode()), headers={"X-Up": "1"})

    async def upload(self, request: web.Request) -> web.Response:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.content.iter_any():
            digest.update(chunk)
            size += len(chunk)
        return web.json_response(self._record(request, size=size, sha256=digest.hexdigest()))

    async def download(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        response = web.StreamResponse()
        await response.prepare(request)
        async for chunk in Bodies.generated(int(request.query["size"])):
            await response.write(chunk)
        await response.write_eof()
        return response

    async def echo_stream(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        response = web.StreamResponse()
        await response.prepare(request)
        async for chunk in request.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response

    async def slow(self, request: web.Request) -> web.Response:
        self._record(request)
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def reset(self, request: web.Request) -> web.Response:
        self._record(request)
        assert request.transport is not None
        request.transport.abort()
        return web.Response(text="never sent")

    async def broken_body(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        response = web.StreamResponse(headers={"Content-Length": str(CHUNK_SIZE * 4)})
        await response.prepare(request)
        await response.write(CHUNK)
        await asyncio.sleep(0.05)
        assert request.transport is not None
        request.transport.abort()
        return response

    async def hop(self, request: web.Request) -> web.Response:
        self._record(request)
        return web.Response(
            text="hop",
            headers={
                "Connection": "X-Hop-Secret",
                "X-Hop-Secret": "1",
                "Keep-Alive": "timeout=5",
                "Proxy-Authenticate": "Basic",
                "X-Kept": "1",
            },
        )

    async def cookie(self, request: web.Request) -> web.Response:
        self._record(request)
        response = web.Response(text="cookie")
        response.set_cookie("session", "for-one-client-only")
        return response

    async def gzipped(self, request: web.Request) -> web.Response:
        self._record(request)
        return web.Response(
            body=gzip.compress(GZIPPED_TEXT),
            headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"},
        )

    async def redirect(self, request: web.Request) -> web.Response:
        self._record(request)
        raise web.HTTPFound("/cars/echo")


@pytest.fixture
def dead_upstream_url() -> str:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssWatch:
    """Samples this process's resident memory while a transfer runs."""

    def __init__(self) -> None:
        self.baseline = rss_bytes()
        self.peak = self.baseline
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, rss_bytes())
            await asyncio.sleep(0.01)

    async def __aenter__(self) -> RssWatch:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, rss_bytes())

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


@pytest.fixture
def rss_watch() -> Callable[[], RssWatch]:
    return RssWatch


@pytest.fixture
async def cars() -> AsyncIterator[Upstream]:
    upstream = Upstream("cars")
    async with serve(upstream.app()) as url:
        upstream.url = url
        yield upstream


@pytest.fixture
async def bookings() -> AsyncIterator[Upstream]:
    upstream = Upstream("bookings")
    async with serve(upstream.app()) as url:
        upstream.url = url
        yield upstream


@pytest.fixture
def jwks_url(signing_key: DevSigningKey, tmp_path: Path) -> str:
    return signing_key.write_jwks(tmp_path / "jwks.json").as_uri()


GatewayFactory = Callable[..., Awaitable[str]]


@pytest.fixture
async def make_gateway(
    cars: Upstream, bookings: Upstream, jwks_url: str
) -> AsyncIterator[GatewayFactory]:
    """`await make_gateway(**settings)`: a gateway in front of both upstreams, its base URL."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(**overrides: Any) -> str:
            values: dict[str, Any] = {
                "upstreams": {"cars": cars.url, "bookings": bookings.url},
                "jwks_url": jwks_url,
                **overrides,
            }
            # Each upstream answers the paths named after it, unless a test says otherwise.
            values.setdefault("routes", {f"/{name}": name for name in values["upstreams"]})
            app = await create_app(GatewaySettings(**values))
            return await stack.enter_async_context(serve(app))

        yield make


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> str:
    return await make_gateway()
