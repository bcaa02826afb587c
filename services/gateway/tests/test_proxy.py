"""The gateway app in front of real upstream servers: routing, headers, streaming, failures."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from yarl import URL

PROBLEM = "application/problem+json"
LARGE = 50 * 1024 * 1024


def header(record: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in record["headers"] if k.lower() == name.lower()]


async def problem(response: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == PROBLEM
    body: dict[str, Any] = await response.json(content_type=PROBLEM)
    assert body["status"] == status
    return body


async def raw_request(base_url: str, request_line: str) -> str:
    """Send a request line exactly as written (clients normalise paths); the status line."""
    url = URL(base_url)
    assert url.host is not None and url.port is not None
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(f"{request_line}\r\nHost: {url.host}\r\nConnection: close\r\n\r\n".encode())
    status_line = (await reader.readline()).decode().strip()
    writer.close()
    await writer.wait_closed()
    return status_line


# --- routing ------------------------------------------------------------------------------------


async def test_routes_by_prefix_and_forwards_method_path_query_and_body(
    gateway: str, http: aiohttp.ClientSession, cars, bookings
) -> None:
    # Encoded as sent: the gateway passes the raw target on, escapes and all.
    url = URL(f"{gateway}/cars/echo?from_utc=2030-01-01T00%3A00Z&x=a+b", encoded=True)
    async with http.put(url, data="hi") as r:
        assert r.status == 200
        assert r.headers["X-Up"] == "1"
        echoed = await r.json()
    assert echoed["method"] == "PUT"
    assert echoed["path_qs"] == "/cars/echo?from_utc=2030-01-01T00%3A00Z&x=a+b"
    assert echoed["body"] == "hi"
    async with http.delete(f"{gateway}/bookings/echo") as r:
        assert r.status == 200
    assert (cars.hits, bookings.hits) == (1, 1)


@pytest.mark.parametrize("path", ["/", "/carsx", "/carsx/echo", "/nothing/here", "/car"])
async def test_an_unknown_path_is_a_404_problem(
    gateway: str, http: aiohttp.ClientSession, cars, path: str
) -> None:
    async with http.get(f"{gateway}{path}") as r:
        body = await problem(r, 404)
    assert body["instance"] == path
    assert cars.hits == 0


@pytest.mark.parametrize(
    "target", ["/cars/../bookings/echo", "/cars/%2e%2e/bookings/echo", "/cars%2F..%2Fbookings/echo"]
)
async def test_paths_with_dot_segments_are_not_routed(
    gateway: str, cars, bookings, target: str
) -> None:
    status_line = await raw_request(gateway, f"GET {target} HTTP/1.1")
    assert status_line.startswith("HTTP/1.1 404")
    assert cars.hits == bookings.hits == 0


async def test_an_absolute_form_target_is_forwarded_as_a_path(gateway: str, cars) -> None:
    status_line = await raw_request(gateway, "GET http://elsewhere.example/cars/echo?x=1 HTTP/1.1")
    assert status_line.startswith("HTTP/1.1 200")
    assert cars.seen[0]["path_qs"] == "/cars/echo?x=1"


async def test_a_path_of_a_service_not_routed_is_a_404_problem(
    make_gateway, http: aiohttp.ClientSession, cars
) -> None:
    gateway = await make_gateway(upstreams={"cars": cars.url})
    async with http.get(f"{gateway}/bookings/echo") as r:
        await problem(r, 404)
    async with http.get(f"{gateway}/cars/echo") as r:
        assert r.status == 200


@pytest.mark.parametrize("path", ["/health", "/openapi.json", "/docs", "/asyncapi.json"])
@pytest.mark.parametrize("method", ["TRACE", "POST", "DELETE"])
async def test_a_method_the_gateways_own_path_lacks_is_a_405_problem_with_allow(
    gateway: str, http: aiohttp.ClientSession, cars, bookings, path: str, method: str
) -> None:
    async with http.request(method, f"{gateway}{path}") as r:
        await problem(r, 405)
        assert r.headers["Allow"] == "GET,HEAD"
    async with http.head(f"{gateway}{path}") as r:
        assert r.status == 200
    assert cars.hits == bookings.hits == 0


async def test_a_method_an_upstream_path_lacks_is_the_upstreams_405_with_allow(
    gateway: str, http: aiohttp.ClientSession
) -> None:
    # The service's router is what knows its paths' methods; its answer passes through.
    async with http.request("TRACE", f"{gateway}/cars/upload") as r:
        assert r.status == 405
        assert r.headers["Allow"] == "POST"
    async with http.request("TRACE", f"{gateway}/nothing/here") as r:
        await problem(r, 404)


async def test_a_head_request_answers_headers_only(
    gateway: str, http: aiohttp.ClientSession, cars
) -> None:
    async with http.head(f"{gateway}/cars/echo") as r:
        assert r.status == 200
        assert int(r.headers["Content-Length"]) > 0
        assert await r.read() == b""
    assert cars.seen[0]["method"] == "HEAD"


async def test_redirects_are_passed_to_the_client_not_followed(
    gateway: str, http: aiohttp.ClientSession, cars
) -> None:
    async with http.get(f"{gateway}/cars/redirect", allow_redirects=False) as r:
        assert r.status == 302
        assert r.headers["Location"] == "/cars/echo"
    assert cars.hits == 1


async def test_encoded_bodies_pass_through_untouched(
    gateway: str, http: aiohttp.ClientSession, bodies
) -> None:
    async with http.get(f"{gateway}/cars/gzip") as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert await r.read() == bodies.GZIPPED_TEXT
    async with http.get(f"{gateway}/cars/gzip", auto_decompress=False) as r:
        assert (await r.read())[:2] == b"\x1f\x8b"


async def test_cookies_set_for_one_client_never_reach_another(gateway: str, cars) -> None:
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as alice,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as bob,
    ):
        async with alice.get(f"{gateway}/cars/cookie") as r:
            assert "session" in r.cookies
        async with bob.get(f"{gateway}/cars/echo") as r:
            assert r.status == 200
        async with alice.get(f"{gateway}/cars/echo") as r:
            assert r.status == 200
    assert header(cars.seen[1], "Cookie") == []
    assert header(cars.seen[2], "Cookie") == ["session=for-one-client-only"]


# --- headers ------------------------------------------------------------------------------------


async def test_header_hygiene_towards_the_upstream(
    gateway: str, http: aiohttp.ClientSession, cars
) -> None:
    sent = {
        "Connection": "keep-alive, X-Secret-Hop",
        "X-Secret-Hop": "1",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Proxy-Authorization": "Basic c2VjcmV0",
        "X-User-Id": "admin",
        "X-Tenant-Id": "someone-else",
        "X-Caller-Roles": "operations",
        "X-Roles": "operations",
        "X-Authenticated-User": "admin",
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Host": "evil.example.com",
        "X-Custom": "kept",
    }
    async with http.get(f"{gateway}/cars/echo", headers=sent) as r:
        assert r.status == 200
        request_id = r.headers["X-Request-Id"]
        assert r.headers["X-Correlation-Id"] == request_id
    (seen,) = cars.seen
    received = {k.lower() for k, _ in seen["headers"]}
    for name in sent.keys() - {"X-Forwarded-For", "X-Forwarded-Host", "X-Custom"}:
        assert name.lower() not in received, name
    assert header(seen, "X-Custom") == ["kept"]
    assert header(seen, "X-Forwarded-For") == ["203.0.113.7, 127.0.0.1"]
    assert header(seen, "X-Forwarded-Proto") == ["http"]
    assert header(seen, "X-Forwarded-Host") == [gateway.removeprefix("http://")]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert header(seen, "X-Request-Id") == [request_id]
    assert header(seen, "X-Correlation-Id") == [request_id]


async def test_request_and_correlation_ids_from_the_client_are_kept(
    gateway: str, http: aiohttp.ClientSession, cars
) -> None:
    ids = {"X-Request-Id": "req-from-client", "X-Correlation-Id": "journey-42"}
    async with http.get(f"{gateway}/cars/echo", headers=ids) as r:
        assert r.headers["X-Request-Id"] == "req-from-client"
        assert r.headers["X-Correlation-Id"] == "journey-42"
    (seen,) = cars.seen
    assert header(seen, "X-Request-Id") == ["req-from-client"]
    assert header(seen, "X-Correlation-Id") == ["journey-42"]


async def test_problems_answered_by_the_gateway_carry_the_request_id(
    gateway: str, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{gateway}/nowhere", headers={"X-Request-Id": "lost-1"}) as r:
        await problem(r, 404)
        assert r.headers["X-Request-Id"] == "lost-1"


async def test_hop_by_hop_headers_from_the_upstream_stay_at_the_gateway(
    gateway: str, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{gateway}/cars/hop") as r:
        assert r.status == 200
        assert r.headers["X-Kept"] == "1"
        for name in ("X-Hop-Secret", "Keep-Alive", "Proxy-Authenticate"):
            assert name not in r.headers, name
        assert r.headers.get("Connection", "keep-alive").lower() == "keep-alive"


# --- streaming ----------------------------------------------------------------------------------


async def test_a_large_upload_streams_through_without_being_held(
    gateway: str, http: aiohttp.ClientSession, rss_watch, bodies
) -> None:
    upload = bodies.generated(LARGE)
    async with rss_watch() as memory, http.post(f"{gateway}/cars/upload", data=upload) as r:
        assert r.status == 200
        received = await r.json()
    assert received["size"] == LARGE
    assert received["sha256"] == bodies.sha256(LARGE)
    assert memory.growth < LARGE // 3, memory.growth


async def test_a_large_upload_with_a_content_length_streams_through(
    gateway: str, http: aiohttp.ClientSession, cars, bodies
) -> None:
    size = 8 * 1024 * 1024 + 5
    headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
    async with http.post(
        f"{gateway}/cars/upload", data=bodies.generated(size), headers=headers
    ) as r:
        received = await r.json()
    assert (received["size"], received["sha256"]) == (size, bodies.sha256(size))
    assert header(cars.seen[0], "Content-Length") == [str(size)]
    assert header(cars.seen[0], "Transfer-Encoding") == []


async def test_a_large_download_streams_through_without_being_held(
    gateway: str, http: aiohttp.ClientSession, rss_watch, bodies
) -> None:
    digest, size = hashlib.sha256(), 0
    async with rss_watch() as memory, http.get(f"{gateway}/cars/download?size={LARGE}") as r:
        assert r.status == 200
        async for chunk in r.content.iter_any():
            digest.update(chunk)
            size += len(chunk)
    assert size == LARGE
    assert digest.hexdigest() == bodies.sha256(LARGE)
    assert memory.growth < LARGE // 3, memory.growth


async def test_response_chunks_arrive_while_the_upload_is_still_going(
    gateway: str, http: aiohttp.ClientSession, bodies
) -> None:
    echoed_first = asyncio.Event()

    async def upload() -> AsyncIterator[bytes]:
        yield bodies.CHUNK
        # Held back until the first chunk made the round trip: a buffering gateway
        # would wait for the whole body and never answer.
        await asyncio.wait_for(echoed_first.wait(), timeout=10)
        for _ in range(63):
            yield bodies.CHUNK

    received = 0
    async with http.post(f"{gateway}/cars/echo-stream", data=upload()) as r:
        assert r.status == 200
        async for chunk in r.content.iter_any():
            received += len(chunk)
            echoed_first.set()
    assert received == 64 * bodies.CHUNK_SIZE


async def test_a_body_over_the_limit_is_413_without_reaching_the_upstream(
    make_gateway, http: aiohttp.ClientSession, cars
) -> None:
    gateway = await make_gateway(max_body_bytes=1000)
    async with http.post(f"{gateway}/cars/upload", data=b"x" * 1001) as r:
        await problem(r, 413)
    assert cars.hits == 0
    async with http.post(f"{gateway}/cars/upload", data=b"x" * 1000) as r:
        assert (await r.json())["size"] == 1000


async def test_a_chunked_body_over_the_limit_is_cut_off(
    make_gateway, http: aiohttp.ClientSession, bodies
) -> None:
    gateway = await make_gateway(max_body_bytes=bodies.CHUNK_SIZE * 2)
    async with http.post(
        f"{gateway}/cars/upload", data=bodies.generated(bodies.CHUNK_SIZE * 3)
    ) as r:
        await problem(r, 413)
    async with http.post(
        f"{gateway}/cars/upload", data=bodies.generated(bodies.CHUNK_SIZE * 2)
    ) as r:
        assert (await r.json())["size"] == bodies.CHUNK_SIZE * 2


# --- upstream failures --------------------------------------------------------------------------


async def test_an_unreachable_upstream_is_a_502_problem(
    make_gateway, http: aiohttp.ClientSession, dead_upstream_url: str
) -> None:
    gateway = await make_gateway(upstreams={"cars": dead_upstream_url})
    async with http.get(f"{gateway}/cars/echo") as r:
        body = await problem(r, 502)
    assert "cars" in body["detail"]


async def test_an_upstream_dropping_the_connection_is_a_502_problem(
    gateway: str, http: aiohttp.ClientSession, cars
) -> None:
    async with http.post(f"{gateway}/cars/reset", json={"make": "vw"}) as r:
        await problem(r, 502)
    assert cars.hits == 1
    # An idempotent request is tried once more, on a fresh connection, before giving up.
    async with http.get(f"{gateway}/cars/reset") as r:
        await problem(r, 502)
    assert cars.hits == 3


async def test_a_slow_upstream_is_a_504_problem(
    make_gateway, http: aiohttp.ClientSession, cars
) -> None:
    gateway = await make_gateway(upstream_read_timeout=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with http.get(f"{gateway}/cars/slow") as r:
        await problem(r, 504)
    assert loop.time() - started < 2
    async with http.get(f"{gateway}/cars/echo") as r:
        assert r.status == 200


async def test_an_upstream_failing_mid_body_truncates_the_response(
    gateway: str, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{gateway}/cars/broken-body") as r:
        assert r.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()
