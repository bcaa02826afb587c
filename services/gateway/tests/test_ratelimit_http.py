"""429 at the gateway once a caller spends their burst: a verified caller per tenant and user,
anyone else (no token, or a bad one) per client address. The callers are people the
session's identity registered, and the gateway trusts its JWKS."""

from __future__ import annotations

import aiohttp
import pytest

from testkit.api import bearer
from testkit.fixtures import TestInfra
from testkit.identity import People, Person


@pytest.fixture
def jwks_url(test_infra: TestInfra) -> str:
    return test_infra.jwks_url


def forged(person: Person, n: int) -> str:
    """`person`'s token with its signature changed: a different bad token for each `n`."""
    return f"{person.access_token[:-6]}{n:06d}"


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
    make_gateway, http: aiohttp.ClientSession, cars, someone: Person
) -> None:
    gateway = await make_gateway(rate_limit_per_second=0.5, rate_limit_burst=3)
    # Each token different, as an attacker guessing tokens sends them.
    bad = [forged(someone, n) for n in range(3)]
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
    make_gateway, http: aiohttp.ClientSession, someone: Person
) -> None:
    gateway = await make_gateway(rate_limit_per_second=0.5, rate_limit_burst=2)
    refused = bearer(forged(someone, 0))
    assert await statuses(http, f"{gateway}/cars/echo", refused, {}, {}) == [401, 200, 429]


async def test_a_verified_caller_has_a_bucket_apart_from_their_address(
    make_gateway, http: aiohttp.ClientSession, person: Person
) -> None:
    gateway = await make_gateway(rate_limit_per_second=0.5, rate_limit_burst=1)
    alice = bearer(person.access_token)
    assert await statuses(http, f"{gateway}/cars/echo", {}, {}, alice, alice) == [
        200,
        429,
        200,
        429,
    ]


async def test_two_users_of_one_tenant_have_separate_buckets(
    make_gateway, http: aiohttp.ClientSession, people: People
) -> None:
    gateway = await make_gateway(rate_limit_per_second=0.5, rate_limit_burst=1)
    acme = await people.organization(await people.person(), await people.person())
    alice, bob = (bearer(p.access_token) for p in acme)
    assert await statuses(http, f"{gateway}/cars/echo", alice, alice, bob) == [200, 429, 200]


async def test_one_user_id_in_two_tenants_has_separate_buckets(
    make_gateway, http: aiohttp.ClientSession, people: People, person: Person
) -> None:
    gateway = await make_gateway(rate_limit_per_second=0.5, rate_limit_burst=1)
    # Acting for their own organization, then for one they founded.
    at_acme = bearer(person.access_token)
    [founder] = await people.organization(person, name="Globex")
    at_globex = bearer(founder.access_token)
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
