"""429 at the gateway once a caller (user, else client IP) spends their burst."""

from __future__ import annotations

import aiohttp

from testkit.tokens import DevSigningKey


async def test_over_the_limit_is_429_with_retry_after(
    make_gateway, http: aiohttp.ClientSession, cars
) -> None:
    gateway = await make_gateway(rate_limit_per_second=0.5, rate_limit_burst=2)
    statuses = []
    for _ in range(3):
        async with http.get(f"{gateway}/cars/echo") as r:
            statuses.append(r.status)
    assert statuses == [200, 200, 429]
    assert r.content_type == "application/problem+json"
    assert r.headers["Retry-After"] == "2"
    assert r.headers["X-Request-Id"]
    assert cars.hits == 2


async def test_each_signed_in_user_has_their_own_bucket(
    make_gateway, http: aiohttp.ClientSession, signing_key: DevSigningKey
) -> None:
    gateway = await make_gateway(rate_limit_per_second=0.5, rate_limit_burst=1)
    alice = {"Authorization": f"Bearer {signing_key.mint(user_id='alice')}"}
    bob = {"Authorization": f"Bearer {signing_key.mint(user_id='bob')}"}
    statuses = []
    for headers in (alice, alice, bob, {}, {}):
        async with http.get(f"{gateway}/cars/echo", headers=headers) as r:
            statuses.append(r.status)
    assert statuses == [200, 429, 200, 200, 429]


async def test_rate_limiting_can_be_turned_off(make_gateway, http: aiohttp.ClientSession) -> None:
    gateway = await make_gateway(rate_limit_per_second=0, rate_limit_burst=1)
    for _ in range(5):
        async with http.get(f"{gateway}/cars/echo") as r:
            assert r.status == 200
