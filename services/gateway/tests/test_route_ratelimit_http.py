"""Stricter limits per client address on public write routes (`POST /contact-sales`,
`POST /record/*`), on top of the general one: 429 with Retry-After, whoever calls."""

from __future__ import annotations

import time

import aiohttp
import pytest

from testkit.api import bearer
from testkit.fixtures import TestInfra
from testkit.identity import People

# The public prefixes the limits are for, sent to the `cars` stand-in (which answers 404 to
# what it does not know: passed through, unlike the gateway's own 429).
ROUTES = {"/cars": "cars", "/contact-sales": "cars", "/record": "cars"}


@pytest.fixture
def jwks_url(test_infra: TestInfra) -> str:
    """The gateway trusts the session's identity, which issues the callers' tokens."""
    return test_infra.jwks_url


async def posts(
    http: aiohttp.ClientSession, url: str, count: int, headers: dict[str, str] | None = None
) -> list[int]:
    answered = []
    for _ in range(count):
        async with http.post(url, json={}, headers=headers or {}) as r:
            answered.append(r.status)
    return answered


async def test_contact_sales_is_limited_per_address_by_default(
    make_gateway, http: aiohttp.ClientSession, cars
) -> None:
    gateway = await make_gateway(routes=ROUTES)
    # The default: a burst of 5, then one every 10 s.
    assert await posts(http, f"{gateway}/contact-sales", 6) == [404] * 5 + [429]
    async with http.post(f"{gateway}/contact-sales", json={}) as r:
        assert r.status == 429
        assert r.content_type == "application/problem+json"
        assert r.headers["Retry-After"] == "10"
    assert cars.hits == 0  # the stand-in records only the routes it has
    # Other routes keep the general limit.
    assert await posts(http, f"{gateway}/cars/echo", 10) == [200] * 10


async def test_recording_is_limited_per_address_by_default(
    make_gateway, http: aiohttp.ClientSession
) -> None:
    gateway = await make_gateway(routes=ROUTES)
    started = time.monotonic()
    answered = await posts(http, f"{gateway}/record/use", 40)
    answered += await posts(http, f"{gateway}/record/pageview", 30)
    elapsed = time.monotonic() - started
    # The default: a burst of 50, then 10 a second (refilled while the test sends).
    assert answered[:50] == [404] * 50
    assert 429 in answered
    assert answered.count(404) <= 50 + 10 * elapsed + 1, (answered, elapsed)
    # Reading is not limited by it.
    async with http.get(f"{gateway}/record/use") as r:
        assert r.status == 404


@pytest.mark.parametrize(
    ("path", "burst"),
    [
        ("/credentials/auth", 10),
        ("/credentials/register", 5),
        ("/credentials/reset", 5),
        ("/credentials/reset/complete", 5),
        ("/sso/auth", 10),
        ("/machines/register", 5),
        ("/tokens/exchange", 10),
    ],
)
async def test_credential_routes_are_limited_per_address_by_default(
    make_gateway, http: aiohttp.ClientSession, path: str, burst: int
) -> None:
    # What a brute-forcer sends passwords, keys and codes to.
    routes = {prefix: "cars" for prefix in ("/credentials", "/sso", "/machines", "/tokens")}
    gateway = await make_gateway(routes=routes)
    assert await posts(http, f"{gateway}{path}", burst + 1) == [404] * burst + [429]


async def test_a_token_is_no_way_around_a_route_limit(
    make_gateway, http: aiohttp.ClientSession, cars, people: People
) -> None:
    limit = {"method": "POST", "path": "/cars/echo", "per_second": 0.5, "burst": 2}
    gateway = await make_gateway(route_rate_limits=[limit])
    alice = bearer((await people.person()).access_token)
    bob = bearer((await people.person()).access_token)
    url = f"{gateway}/cars/echo"
    assert await posts(http, url, 1, alice) + await posts(http, url, 2, bob) == [200, 200, 429]
    assert cars.hits == 2
    # GET on the same path is another route.
    async with http.get(url) as r:
        assert r.status == 200


async def test_route_limits_apply_with_the_general_limit_off(
    make_gateway, http: aiohttp.ClientSession
) -> None:
    limit = {"method": "POST", "path": "/cars/echo", "per_second": 0.5, "burst": 1}
    gateway = await make_gateway(rate_limit_per_second=0, route_rate_limits=[limit])
    assert await posts(http, f"{gateway}/cars/echo", 2) == [200, 429]


async def test_route_limits_can_be_turned_off(make_gateway, http: aiohttp.ClientSession) -> None:
    gateway = await make_gateway(routes=ROUTES, route_rate_limits=[])
    assert await posts(http, f"{gateway}/contact-sales", 8) == [404] * 8
