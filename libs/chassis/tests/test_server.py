"""Requests aiohttp refuses before any handler runs are answered as problems too, on a real
socket: a header field over the size limit, too many fields, a request that is not HTTP. And
`run` serving an app until it is told to stop."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from chassis.config import WebSettings
from chassis.web.app import service_app
from chassis.web.openapi import Route
from chassis.web.problems import PROBLEM_CONTENT_TYPE
from testkit import waiting

# aiohttp's defaults: max_field_size and max_line_size 8190 bytes, max_headers 128.
OVERSIZED = "x" * 9000


@pytest.fixture
async def service(serve, test_infra) -> str:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": "world"})

    settings = WebSettings(service_name="hello", jwks_url=test_infra.jwks_url)
    route = Route("GET", "/hello", hello, "Greets anyone.", public=True)
    return await serve(service_app(settings, [route]))


async def problem(response: aiohttp.ClientResponse, status: int) -> dict:
    assert response.status == status, await response.text()
    assert response.content_type == PROBLEM_CONTENT_TYPE
    body = await response.json(content_type=None)
    assert body["status"] == status
    assert body["title"]
    return body


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Big": OVERSIZED},
        {f"X-{OVERSIZED}": "1"},
        {"Cookie": OVERSIZED},
        {f"X-Header-{n}": "1" for n in range(200)},
    ],
    ids=["long value", "long name", "long cookie", "too many fields"],
)
async def test_header_fields_too_large_are_a_431_problem(service, http, headers):
    async with http.get(f"{service}/hello", headers=headers) as response:
        body = await problem(response, 431)
        assert body["title"] == "Request Header Fields Too Large"
        assert OVERSIZED not in await response.text()
    async with http.get(f"{service}/hello") as response:
        assert response.status == 200


async def test_a_request_that_is_not_http_is_a_400_problem(service):
    url = URL(service)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Bad\x01Name: 1\r\n\r\n")
        await writer.drain()
        answer = await reader.read()  # the server closes the connection after answering
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    assert status_line.split(" ", 2)[1] == "400"
    content_type = next(f for f in fields if f.lower().startswith("content-type:"))
    assert PROBLEM_CONTENT_TYPE in content_type
    assert json.loads(body)["status"] == 400


SERVED_UNTIL_STOPPED = """
import sys
from aiohttp import web
from chassis.config import WebSettings
from chassis.web.app import run

async def cleanup(app):
    print("cleaned up", flush=True)

app = web.Application()
app.on_cleanup.append(cleanup)
run(app, WebSettings(service_name="stoppable", port=int(sys.argv[1])))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_run_serves_until_a_signal_then_cleans_up(http, signum):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVED_UNTIL_STOPPED, str(port), stdout=asyncio.subprocess.PIPE
    )
    try:

        async def listening() -> bool:
            try:
                async with http.get(f"http://127.0.0.1:{port}/nowhere") as response:
                    return response.status == 404
            except aiohttp.ClientConnectionError:
                return False

        await waiting.eventually(listening, 20)
        process.send_signal(signum)
        out, _ = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    assert out.decode().strip() == "cleaned up"
