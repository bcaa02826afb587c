"""JWT at the edge: bad tokens stop at the gateway, good ones and none pass unchanged."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest

from testkit.tokens import DevSigningKey, tampered_token, unsigned_token

BAD_TOKENS = {
    "garbage": lambda key: "not-a-jwt",
    "expired": lambda key: key.mint(expires_in=timedelta(minutes=-5)),
    "alg none": lambda key: unsigned_token(
        {"sub": "admin", "iss": "platform-identity", "aud": "platform", "exp": 4102444800}
    ),
    "tampered": lambda key: tampered_token(key.mint()),
    "other key": lambda key: DevSigningKey(DevSigningKey.generate().private_pem, key.kid).mint(),
    "wrong audience": lambda key: key.mint(audience="someone-else"),
    "no audience": lambda key: key.mint(without=["aud"]),
    "no issuer": lambda key: key.mint(without=["iss"]),
    "no subject": lambda key: key.mint(without=["sub"]),
    "no expiry": lambda key: key.mint(without=["exp"]),
    "no issued at": lambda key: key.mint(without=["iat"]),
    "not yet valid": lambda key: key.mint(not_before=timedelta(minutes=5)),
    "tenant not a string": lambda key: key.sign({**key.claims(), "tenant_id": 7}),
    "subject not a string": lambda key: key.sign({**key.claims(), "sub": 7}),
    "expiry not a number": lambda key: key.sign({**key.claims(), "exp": None}),
}


@pytest.mark.parametrize("kind", BAD_TOKENS)
async def test_an_invalid_token_is_401_without_touching_the_upstream(
    gateway: str, http: aiohttp.ClientSession, cars, signing_key: DevSigningKey, kind: str
) -> None:
    token = BAD_TOKENS[kind](signing_key)
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
