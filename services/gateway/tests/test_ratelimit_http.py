"""429 at the gateway once a caller spends their burst: a verified caller per tenant and user,
anyone else (no token, or a bad one) per client address."""

from __future__ import annotations

from datetime import timedelta

import aiohttp

from testkit.api import bearer
from testkit.tokens import DevSigningKey


async def statuses(http: aiohttp.ClientSession, url: str, *sent: dict[str, str]) -> list[int]:
    answered = []
    for headers in sent:
        async with http.get(url, headers=headers) as r:
            answered.append(r.status)
    return answered


async def test_over_the_limit_is_429_with_retry_after(
    make_gateway, http: aiohttp.ClientSession, cars
) -> None:
    gateway = await make_gateway(rate_limit_per_second=0.5, rate_limit_burst=2)
    answered = []
    for _ in range(3):
        async with http.get(f"{gateway}/cars/echo") as r:
            answered.append(r.status)
    assert answered == [200, 200, 429]
    assert r.content_type == "application/problem+json"
    assert r.headers["Retry-After"] == "2"
    assert r.headers["X-Request-Id"]
    assert cars.hits == 2


async def test_a_flood_of_bad_tokens_from_one_address_ends_in_429(
    make_gateway, http: aiohttp.ClientSession, cars, signing_key: DevSigningKey
) -> None:
    gateway = await make_gateway(rate_limit_per_second=0.5, rate_limit_burst=3)
    # Each token different, as an attacker guessing tokens sends them.
    bad = [signing_key.mint(user_id=f"u{n}", without=["aud"]) for n in range(3)]
    bad += [f"not-a-token-{n}" for n in range(3)]
    answered = []
    for token in bad:
        async with http.get(f"{gateway}/cars/echo", headers=bearer(token)) as r:
            answered.append(r.status)
    assert answered == [401, 401, 401, 429, 429, 429]
    assert r.content_type == "application/problem+json"
    assert int(r.headers["Retry-After"]) >= 1
    assert cars.hits == 0


async def test_anonymous_and_refused_callers_share_their_address_bucket(
    make_gateway, http: aiohttp.ClientSession, signing_key: DevSigningKey
) -> None:
    gateway = await make_gateway(rate_limit_per_second=0.5, rate_limit_burst=2)
    expired = bearer(signing_key.mint(expires_in=-timedelta(minutes=5)))
    assert await statuses(http, f"{gateway}/cars/echo", expired, {}, {}) == [401, 200, 429]


async def test_a_verified_caller_has_a_bucket_apart_from_their_address(
    make_gateway, http: aiohttp.ClientSession, signing_key: DevSigningKey
) -> None:
    gateway = await make_gateway(rate_limit_per_second=0.5, rate_limit_burst=1)
    alice = bearer(signing_key.mint(user_id="alice"))
    assert await statuses(http, f"{gateway}/cars/echo", {}, {}, alice, alice) == [
        200,
        429,
        200,
        429,
    ]


async def test_two_users_of_one_tenant_have_separate_buckets(
    make_gateway, http: aiohttp.ClientSession, signing_key: DevSigningKey
) -> None:
    gateway = await make_gateway(rate_limit_per_second=0.5, rate_limit_burst=1)
    alice = bearer(signing_key.mint(user_id="alice", tenant_id="acme"))
    bob = bearer(signing_key.mint(user_id="bob", tenant_id="acme"))
    assert await statuses(http, f"{gateway}/cars/echo", alice, alice, bob) == [200, 429, 200]


async def test_one_user_id_in_two_tenants_has_separate_buckets(
    make_gateway, http: aiohttp.ClientSession, signing_key: DevSigningKey
) -> None:
    gateway = await make_gateway(rate_limit_per_second=0.5, rate_limit_burst=1)
    at_acme = bearer(signing_key.mint(user_id="user-1", tenant_id="acme"))
    at_globex = bearer(signing_key.mint(user_id="user-1", tenant_id="globex"))
    assert await statuses(http, f"{gateway}/cars/echo", at_acme, at_acme, at_globex) == [
        200,
        429,
        200,
    ]


async def test_a_client_cannot_pick_its_address_with_x_forwarded_for(
    make_gateway, http: aiohttp.ClientSession
) -> None:
    gateway = await make_gateway(rate_limit_per_second=0.5, rate_limit_burst=1)
    claims = [{"X-Forwarded-For": f"203.0.113.{n}"} for n in range(3)]
    assert await statuses(http, f"{gateway}/cars/echo", *claims) == [200, 429, 429]


async def test_behind_trusted_proxies_each_forwarded_client_has_a_bucket(
    make_gateway, http: aiohttp.ClientSession
) -> None:
    # The test client connects from 127.0.0.1: here it stands for the proxies in front.
    gateway = await make_gateway(
        rate_limit_per_second=0.5, rate_limit_burst=1, trusted_proxies=["127.0.0.0/8"]
    )
    first = {"X-Forwarded-For": "203.0.113.1"}
    # The client wrote the first entry itself; the proxy appended the address it saw.
    disguised = {"X-Forwarded-For": "198.51.100.7, 203.0.113.1"}
    second = {"X-Forwarded-For": "203.0.113.2, 127.0.0.2"}
    assert await statuses(http, f"{gateway}/cars/echo", first, disguised, second) == [
        200,
        429,
        200,
    ]


async def test_rate_limiting_can_be_turned_off(make_gateway, http: aiohttp.ClientSession) -> None:
    gateway = await make_gateway(rate_limit_per_second=0, rate_limit_burst=1)
    for _ in range(5):
        async with http.get(f"{gateway}/cars/echo") as r:
            assert r.status == 200
