"""API keys at the edge: traded with identity (a stand-in that mints real RS256 tokens with the
tests' signing key, and counts its calls) for an access token, which is all a service sees."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from jose import jwt

from devstack.system import free_ports
from gateway.apikeys import ApiKey, KeyExchange
from testkit.api import bearer
from testkit.tokens import DevSigningKey
from testkit.waiting import eventually

PROBLEM = "application/problem+json"
KEY = "apk_" + "k" * 43
OTHER_KEY = "apk_" + "o" * 43


@dataclass
class StandInIdentity:
    """`POST /tokens/exchange` as the contract has it: 200 with a token for a key it holds,
    401 problem for any other; `failing` answers 500, `delay` answers late."""

    signing_key: DevSigningKey
    # Secret to the user it stands for.
    keys: dict[str, str] = field(default_factory=dict)
    calls: int = 0
    request_ids: list[str | None] = field(default_factory=list)
    delay: float = 0.0
    failing: bool = False
    token_lifetime: timedelta = timedelta(minutes=15)
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.post("/tokens/exchange", self.exchange)])
        return app

    async def exchange(self, request: web.Request) -> web.Response:
        self.calls += 1
        self.request_ids.append(request.headers.get("X-Request-Id"))
        body = await request.json()
        await asyncio.sleep(self.delay)
        if self.failing:
            return web.json_response({"title": "boom", "status": 500}, status=500)
        user_id = self.keys.get(body["api_key"])
        if user_id is None:
            return web.json_response(
                {"title": "Unauthorized", "status": 401, "detail": "unknown key"},
                status=401,
                content_type=PROBLEM,
            )
        expires = datetime.now(UTC) + self.token_lifetime
        token = self.signing_key.mint(
            user_id=user_id, tenant_id="tenant-keys", expires_in=self.token_lifetime
        )
        return web.json_response({"access_token": token, "expires_utc": expires.isoformat()})


@pytest.fixture
async def identity(signing_key: DevSigningKey, serve_app) -> AsyncIterator[StandInIdentity]:
    stand_in = StandInIdentity(signing_key, keys={KEY: "key-owner"})
    async with serve_app(stand_in.app()) as url:
        stand_in.url = url
        yield stand_in


@pytest.fixture
def keyed_gateway(make_gateway, cars, identity: StandInIdentity):
    """`await keyed_gateway(**settings)`: a gateway whose identity is the stand-in."""

    async def make(**overrides: Any) -> str:
        upstreams = {"cars": cars.url, "identity": identity.url}
        return str(await make_gateway(upstreams=upstreams, **overrides))

    return make


def authorizations(seen: dict[str, Any]) -> list[str]:
    return [value for name, value in seen["headers"] if name.lower() == "authorization"]


async def get(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> tuple[int, str | None]:
    async with http.get(url, headers=headers) as r:
        await r.read()
        return r.status, r.content_type


@pytest.mark.parametrize("sent", [{"X-API-Key": KEY}, bearer(KEY)], ids=["X-API-Key", "bearer"])
async def test_a_key_is_exchanged_and_the_service_sees_only_the_token(
    keyed_gateway, http: aiohttp.ClientSession, cars, identity: StandInIdentity, sent
) -> None:
    gateway = await keyed_gateway()
    async with http.get(f"{gateway}/cars/echo", headers={**sent, "X-Request-Id": "req-key-1"}) as r:
        assert r.status == 200
    [seen] = cars.seen
    names = {name.lower() for name, _ in seen["headers"]}
    assert "x-api-key" not in names
    assert not any(KEY in value for _, value in seen["headers"])
    [authorization] = authorizations(seen)
    scheme, token = authorization.split(" ")
    assert scheme == "Bearer"
    assert jwt.get_unverified_claims(token)["sub"] == "key-owner"
    # Identity's log of the exchange joins the request's.
    assert identity.request_ids == ["req-key-1"]


async def test_a_second_call_within_the_cache_time_makes_no_second_exchange(
    keyed_gateway, http: aiohttp.ClientSession, cars, identity: StandInIdentity
) -> None:
    gateway = await keyed_gateway(api_key_cache_seconds=30)
    for sent in ({"X-API-Key": KEY}, bearer(KEY), {"X-API-Key": KEY}):
        assert await get(http, f"{gateway}/cars/echo", sent) == (200, "application/json")
    assert identity.calls == 1
    first, *others = (authorizations(seen) for seen in cars.seen)
    assert others == [first, first]


async def test_a_deleted_key_is_refused_once_the_cache_time_has_passed(
    keyed_gateway, http: aiohttp.ClientSession, cars, identity: StandInIdentity
) -> None:
    gateway = await keyed_gateway(api_key_cache_seconds=0.5)
    url, sent = f"{gateway}/cars/echo", {"X-API-Key": KEY}
    assert (await get(http, url, sent))[0] == 200
    del identity.keys[KEY]
    # Still honoured from the cache, for no longer than the cache time.
    assert (await get(http, url, sent))[0] == 200
    await asyncio.sleep(0.6)
    async with http.get(url, headers=sent) as r:
        assert r.status == 401
        assert r.content_type == PROBLEM
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert "not valid" in (await r.json())["detail"]
    assert identity.calls == 2
    assert cars.hits == 2


async def test_an_exchange_is_renewed_before_its_token_expires(
    keyed_gateway, http: aiohttp.ClientSession, identity: StandInIdentity
) -> None:
    identity.token_lifetime = timedelta(seconds=1)
    gateway = await keyed_gateway(api_key_cache_seconds=60)
    url, sent = f"{gateway}/cars/echo", {"X-API-Key": KEY}
    assert (await get(http, url, sent))[0] == 200
    assert (await get(http, url, sent))[0] == 200
    assert identity.calls == 1
    await asyncio.sleep(1.1)
    assert (await get(http, url, sent))[0] == 200
    assert identity.calls == 2


async def test_concurrent_first_calls_with_one_key_share_one_exchange(
    keyed_gateway, http: aiohttp.ClientSession, cars, identity: StandInIdentity
) -> None:
    identity.delay = 0.3
    gateway = await keyed_gateway()
    answers = await asyncio.gather(
        *(get(http, f"{gateway}/cars/echo", {"X-API-Key": KEY}) for _ in range(20))
    )
    assert [status for status, _ in answers] == [200] * 20
    assert identity.calls == 1
    assert cars.hits == 20


async def test_a_waiter_cancelled_does_not_cancel_the_exchange_others_wait_on(
    http: aiohttp.ClientSession, identity: StandInIdentity
) -> None:
    identity.delay = 0.3
    keys = KeyExchange(http, identity.url, cache_seconds=5, timeout=2, max_entries=10)
    first = asyncio.create_task(keys.access_token(ApiKey.of(KEY)))
    await eventually(lambda: identity.calls == 1)
    second = asyncio.create_task(keys.access_token(ApiKey.of(KEY)))
    await asyncio.sleep(0.05)
    first.cancel()
    token = await second
    assert jwt.get_unverified_claims(token)["sub"] == "key-owner"
    assert identity.calls == 1
    assert keys.remembered(ApiKey.of(KEY)) == token


async def test_a_refused_key_is_401_and_not_asked_again_on_every_request(
    keyed_gateway, http: aiohttp.ClientSession, cars, identity: StandInIdentity
) -> None:
    gateway = await keyed_gateway(api_key_cache_seconds=0.5)
    url, sent = f"{gateway}/cars/echo", {"X-API-Key": OTHER_KEY}
    answers = [await get(http, url, sent) for _ in range(5)]
    assert answers == [(401, PROBLEM)] * 5
    assert identity.calls == 1
    # Remembered briefly: once the cache time passes, identity is asked again.
    await asyncio.sleep(0.6)
    assert await get(http, url, sent) == (401, PROBLEM)
    assert identity.calls == 2
    assert cars.hits == 0


async def test_a_key_of_the_wrong_shape_is_refused_without_asking_identity(
    keyed_gateway, http: aiohttp.ClientSession, cars, identity: StandInIdentity
) -> None:
    gateway = await keyed_gateway()
    for sent in (
        {"X-API-Key": "not-an-api-key"},
        {"X-API-Key": "apk_"},
        {"X-API-Key": "apk_has spaces"},
        {"X-API-Key": "apk_" + "x" * 300},
        bearer("apk_a.b.c"),
    ):
        assert await get(http, f"{gateway}/cars/echo", sent) == (401, PROBLEM), sent
    assert identity.calls == 0
    assert cars.hits == 0


@pytest.mark.parametrize(
    "sent",
    [
        [("X-API-Key", KEY), ("Authorization", "Bearer a.jwt.token")],
        [("X-API-Key", KEY), ("Authorization", f"Bearer {KEY}")],
        [("X-API-Key", KEY), ("X-API-Key", OTHER_KEY)],
        [("Authorization", f"Bearer {KEY}"), ("Authorization", "Bearer a.jwt.token")],
    ],
    ids=["key and token", "key both ways", "two keys", "bearer key and token"],
)
async def test_a_key_beside_another_credential_is_400(
    keyed_gateway, http: aiohttp.ClientSession, cars, identity: StandInIdentity, sent
) -> None:
    gateway = await keyed_gateway()
    async with http.get(f"{gateway}/cars/echo", headers=sent) as r:
        assert r.status == 400
        assert r.content_type == PROBLEM
        assert (await r.json())["title"] == "More than one credential"
    assert identity.calls == 0
    assert cars.hits == 0


async def test_identity_failing_is_503_and_not_remembered(
    keyed_gateway, http: aiohttp.ClientSession, cars, identity: StandInIdentity
) -> None:
    identity.failing = True
    gateway = await keyed_gateway()
    url, sent = f"{gateway}/cars/echo", {"X-API-Key": KEY}
    assert await get(http, url, sent) == (503, PROBLEM)
    identity.failing = False
    assert (await get(http, url, sent))[0] == 200
    assert identity.calls == 2


async def test_identity_down_is_503(
    make_gateway, http: aiohttp.ClientSession, cars, dead_upstream_url: str
) -> None:
    gateway = await make_gateway(upstreams={"cars": cars.url, "identity": dead_upstream_url})
    assert await get(http, f"{gateway}/cars/echo", {"X-API-Key": KEY}) == (503, PROBLEM)
    assert cars.hits == 0


async def test_identity_slower_than_the_exchange_timeout_is_503_in_time(
    keyed_gateway, http: aiohttp.ClientSession, identity: StandInIdentity
) -> None:
    identity.delay = 3.0
    gateway = await keyed_gateway(api_key_exchange_timeout=0.3)
    started = time.monotonic()
    assert await get(http, f"{gateway}/cars/echo", {"X-API-Key": KEY}) == (503, PROBLEM)
    assert time.monotonic() - started < 2.0


async def test_without_an_identity_upstream_a_key_is_503(
    gateway: str, http: aiohttp.ClientSession, cars
) -> None:
    async with http.get(f"{gateway}/cars/echo", headers={"X-API-Key": KEY}) as r:
        assert r.status == 503
        assert "no identity" in (await r.json())["detail"]
    assert cars.hits == 0


async def test_a_key_is_rate_limited_as_its_caller(
    keyed_gateway, http: aiohttp.ClientSession, identity: StandInIdentity
) -> None:
    gateway = await keyed_gateway(rate_limit_per_second=0.1, rate_limit_burst=3)
    url = f"{gateway}/cars/echo"
    keyed = [(await get(http, url, {"X-API-Key": KEY}))[0] for _ in range(4)]
    assert keyed == [200, 200, 200, 429]
    # The address paid for the one exchange only: the anonymous caller there has two left.
    anonymous = [(await get(http, url, {}))[0] for _ in range(3)]
    assert anonymous == [200, 200, 429]


async def test_guessed_keys_are_held_to_the_address_limit_before_identity_is_asked(
    keyed_gateway, http: aiohttp.ClientSession, identity: StandInIdentity
) -> None:
    gateway = await keyed_gateway(rate_limit_per_second=0.1, rate_limit_burst=3)
    guesses = [{"X-API-Key": f"apk_guess{n}"} for n in range(8)]
    answered = [(await get(http, f"{gateway}/cars/echo", sent))[0] for sent in guesses]
    assert answered == [401] * 3 + [429] * 5
    assert identity.calls == 3


async def test_the_cache_is_bounded_and_bad_keys_do_not_push_out_good_ones(
    keyed_gateway, http: aiohttp.ClientSession, identity: StandInIdentity
) -> None:
    identity.keys |= {f"apk_good{n}": f"user-{n}" for n in range(3)}
    gateway = await keyed_gateway(api_key_cache_size=2, api_key_cache_seconds=30)
    url = f"{gateway}/cars/echo"

    async def send(key: str) -> int:
        return (await get(http, url, {"X-API-Key": key}))[0]

    assert [await send(f"apk_good{n}") for n in range(3)] == [200] * 3
    assert identity.calls == 3
    # Two keys fit: the newest two are served from the cache, the first was let go.
    assert [await send("apk_good2"), await send("apk_good1")] == [200, 200]
    assert identity.calls == 3
    assert await send("apk_good0") == 200
    assert identity.calls == 4
    # A flood of refused keys evicts only other refusals.
    assert [await send(f"apk_bad{n}") for n in range(5)] == [401] * 5
    assert identity.calls == 9
    assert [await send("apk_good0"), await send("apk_good2")] == [200, 200]
    assert identity.calls == 9


async def test_the_key_never_appears_in_the_gateways_log(
    cars, identity: StandInIdentity, jwks_url: str, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The gateway as its own process, logging everything (DEBUG), its output kept whole."""
    port = free_ports(["gateway"])["gateway"]
    env = {
        **os.environ,
        "PORT": str(port),
        "UPSTREAMS": json.dumps({"cars": cars.url, "identity": identity.url}),
        "ROUTES": json.dumps({"/cars": "cars"}),
        "JWKS_URL": jwks_url,
        "LOG_LEVEL": "DEBUG",
        "API_KEY_CACHE_SECONDS": "0",
    }
    log_path = tmp_path / "gateway.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", env=env, stdout=log, stderr=subprocess.STDOUT
        )
    gateway = f"http://127.0.0.1:{port}"
    try:
        await eventually(lambda: up(http, gateway), timeout=20)
        url = f"{gateway}/cars/echo"
        assert (await get(http, url, {"X-API-Key": KEY}))[0] == 200
        assert (await get(http, url, bearer(KEY)))[0] == 200
        assert (await get(http, url, {"X-API-Key": OTHER_KEY}))[0] == 401
        assert (await get(http, url, {"X-API-Key": KEY, "Authorization": "Bearer x"}))[0] == 400
        identity.failing = True
        assert (await get(http, url, {"X-API-Key": KEY}))[0] == 503
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=10)
    text = log_path.read_text()
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    requests = [r for r in records if r.get("event") == "http.request" and r["path"] != "/health"]
    # The log holds every request (so it is the log that would show a key) and the failure.
    assert [r["status"] for r in requests] == [200, 200, 401, 400, 503]
    assert any(r.get("event") == "api_keys.exchange_failed" for r in records)
    for secret in (KEY, OTHER_KEY, KEY.removeprefix("apk_")):
        assert secret not in text


async def up(http: aiohttp.ClientSession, gateway: str) -> bool:
    try:
        async with http.get(f"{gateway}/health") as r:
            return r.status in (200, 503)
    except aiohttp.ClientConnectionError:
        return False
