"""`GET /health` at the gateway asks every upstream's own `/health`."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
from aiohttp import web


async def test_all_upstreams_up_is_200(gateway: str, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{gateway}/health") as r:
        assert r.status == 200
        body = await r.json()
    # Each upstream's own report: the stand-ins report one check each.
    upstream = {"status": "ok", "checks": {"mongo": "ok"}, "error": None}
    assert body == {
        "service": "gateway",
        "status": "ok",
        "down": [],
        "checks": {"cars": "ok", "bookings": "ok"},
        "upstreams": {"cars": upstream, "bookings": upstream},
    }


async def test_an_unhealthy_upstream_is_503_naming_it(
    gateway: str, http: aiohttp.ClientSession, bookings
) -> None:
    bookings.health_status = 503
    bookings.health_checks = {
        "mongo": "down: ServerSelectionTimeoutError('db-3:27017')",
        "broker": "ok",
    }
    async with http.get(f"{gateway}/health") as r:
        assert r.status == 503
        body = await r.json()
    assert (body["status"], body["down"]) == ("down", ["bookings"])
    assert body["checks"] == {"cars": "ok", "bookings": "down: answered 503"}
    # What is down in it, without the reason it gave (which names its hosts).
    assert body["upstreams"]["bookings"] == {
        "status": "down",
        "checks": {"mongo": "down", "broker": "ok"},
        "error": "answered 503",
    }
    assert body["upstreams"]["cars"]["status"] == "ok"


async def test_a_report_that_is_not_one_shows_no_checks(
    gateway: str, http: aiohttp.ClientSession, bookings
) -> None:
    for report in ([1, 2], {"checks": {"mongo": 3}}, "x" * 70_000):
        bookings.health_body = report
        async with http.get(f"{gateway}/health") as r:
            assert r.status == 200
            body = await r.json()
        assert body["upstreams"]["bookings"] == {"status": "ok", "checks": {}, "error": None}


async def test_an_unreachable_upstream_is_503_naming_it(
    make_gateway, http: aiohttp.ClientSession, cars, dead_upstream_url: str
) -> None:
    gateway = await make_gateway(upstreams={"cars": cars.url, "images": dead_upstream_url})
    async with http.get(f"{gateway}/health") as r:
        assert r.status == 503
        body = await r.json()
    assert body["checks"] == {"cars": "ok", "images": "down: unreachable"}
    assert body["down"] == ["images"]
    assert body["upstreams"]["images"] == {"status": "down", "checks": {}, "error": "unreachable"}


async def test_upstreams_are_asked_concurrently_with_a_short_timeout(
    make_gateway, http: aiohttp.ClientSession, cars, serve_app
) -> None:
    async def hanging(_: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.Response()

    async with contextlib.AsyncExitStack() as stack:
        slow = {}
        for name in ("images", "emails", "audits", "usages"):
            app = web.Application()
            app.router.add_get("/health", hanging)
            slow[name] = await stack.enter_async_context(serve_app(app))
        gateway = await make_gateway(upstreams={"cars": cars.url, **slow}, health_timeout=0.3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with http.get(f"{gateway}/health") as r:
            assert r.status == 503
            checks = (await r.json())["checks"]
        # One after another they would take 4 x 0.3 s.
        assert loop.time() - started < 1.1
    assert checks["cars"] == "ok"
    assert all(checks[name] == "down: no answer within 0.3 s" for name in slow)


async def test_one_service_health_is_its_own_report(
    gateway: str, http: aiohttp.ClientSession, bookings
) -> None:
    async with http.get(f"{gateway}/health/cars") as r:
        assert (r.status, await r.json()) == (
            200,
            {"status": "ok", "checks": {"mongo": "ok"}, "error": None},
        )
    bookings.health_status = 503
    bookings.health_checks = {"mongo": "ok", "broker": "down: AMQPConnectionError('10.0.0.7')"}
    async with http.get(f"{gateway}/health/bookings") as r:
        assert r.status == 503
        assert await r.json() == {
            "status": "down",
            "checks": {"mongo": "ok", "broker": "down"},
            "error": "answered 503",
        }


async def test_one_service_health_of_an_unknown_service_is_404(
    gateway: str, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{gateway}/health/images") as r:
        assert r.status == 404
        assert r.content_type == "application/problem+json"
        assert "images" in (await r.json())["detail"]
