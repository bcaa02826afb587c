"""JWT at the edge: bad tokens stop at the gateway, good ones and none pass unchanged."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from chassis.web.auth import Caller, InvalidToken, JwksVerifier
from gateway.verified_tokens import CachingVerifier
from testkit.tokens import DevSigningKey


def unsigned(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = ["operations"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


BAD_TOKENS = {
    "garbage": lambda key: "not-a-jwt",
    "expired": lambda key: key.mint(expires_in=timedelta(minutes=-5)),
    "alg none": lambda key: unsigned(
        {"sub": "admin", "iss": "platform-identity", "aud": "platform", "exp": 4102444800}
    ),
    "tampered": lambda key: tampered(key.mint()),
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


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(jwks_url: str, clock: Clock) -> CachingVerifier:
    return CachingVerifier(
        jwks_url,
        issuer="platform-identity",
        audience="platform",
        ttl=60.0,
        max_entries=2,
        clock=clock,
    )


class Checks:
    """Counts the signature checks that reach the chassis verifier."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = JwksVerifier.verify

        async def counted(verifier: JwksVerifier, token: str) -> Caller:
            self.count += 1
            return await original(verifier, token)

        monkeypatch.setattr(JwksVerifier, "verify", counted)


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Checks:
    return Checks(monkeypatch)


def expiry(token: str) -> float:
    payload = token.split(".")[1]
    return float(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])


async def test_a_verified_token_is_remembered_for_the_ttl(
    verifier: CachingVerifier, signing_key: DevSigningKey, clock: Clock, checks: Checks
) -> None:
    token = signing_key.mint(user_id="driver-1", expires_in=timedelta(hours=1))
    clock.now = expiry(token) - 3600
    caller = await verifier.verify(token)
    assert caller.user_id == "driver-1"
    clock.now += 59
    assert await verifier.verify(token) == caller
    assert checks.count == 1
    clock.now += 2
    assert await verifier.verify(token) == caller
    assert checks.count == 2


async def test_a_remembered_token_is_not_honoured_past_its_expiry(
    verifier: CachingVerifier, signing_key: DevSigningKey, clock: Clock, checks: Checks
) -> None:
    token = signing_key.mint(expires_in=timedelta(seconds=30))
    clock.now = expiry(token) - 30
    await verifier.verify(token)
    clock.now = expiry(token) - 1
    await verifier.verify(token)
    assert checks.count == 1
    clock.now = expiry(token) + 1
    await verifier.verify(token)
    assert checks.count == 2


async def test_the_remembered_tokens_are_bounded(
    verifier: CachingVerifier, signing_key: DevSigningKey, clock: Clock, checks: Checks
) -> None:
    tokens = [signing_key.mint(user_id=user) for user in ("a", "b", "c")]
    clock.now = expiry(tokens[0]) - 3600
    for token in tokens:
        await verifier.verify(token)
    await verifier.verify(tokens[2])
    assert checks.count == 3
    await verifier.verify(tokens[0])
    assert checks.count == 4


async def test_invalid_tokens_are_never_remembered(
    verifier: CachingVerifier, signing_key: DevSigningKey, checks: Checks
) -> None:
    token = tampered(signing_key.mint())
    for _ in range(2):
        with pytest.raises(InvalidToken):
            await verifier.verify(token)
    assert checks.count == 2
