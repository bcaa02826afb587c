"""JWT at the edge: bad tokens stop at the gateway, good ones and none pass unchanged."""

from __future__ import annotations

import aiohttp
import pytest

from testkit.tokens import REFUSED_TOKENS, DevSigningKey


@pytest.mark.parametrize("kind", REFUSED_TOKENS)
async def test_an_invalid_token_is_401_without_touching_the_upstream(
    gateway: str, http: aiohttp.ClientSession, cars, signing_key: DevSigningKey, kind: str
) -> None:
    token = REFUSED_TOKENS[kind](signing_key)
    async with http.get(f"{gateway}/cars/echo", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 401
        assert r.content_type == "application/problem+json"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert cars.hits == 0


async def test_a_valid_token_passes_and_is_forwarded_unchanged(
    gateway: str, http: aiohttp.ClientSession, cars, signing_key: DevSigningKey
) -> None:
    authorization = f"Bearer {signing_key.mint(user_id='driver-1')}"
    for _ in range(2):
        async with http.get(f"{gateway}/cars/echo", headers={"Authorization": authorization}) as r:
            assert r.status == 200
    assert [
        [v for k, v in seen["headers"] if k.lower() == "authorization"] for seen in cars.seen
    ] == [[authorization], [authorization]]


async def test_no_token_passes_for_the_service_to_decide(
    gateway: str, http: aiohttp.ClientSession, cars
) -> None:
    async with http.get(f"{gateway}/cars/echo") as r:
        assert r.status == 200
    assert cars.hits == 1
