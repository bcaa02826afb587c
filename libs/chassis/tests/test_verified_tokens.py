"""The verifier every process uses: a token it verified is remembered, never past its expiry
or the ttl, never when invalid, and never more than a bounded number of them."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest

from chassis.web.auth import Caller, InvalidToken, JwksVerifier
from chassis.web.verified_tokens import CachingVerifier
from testkit.tokens import DevSigningKey, tampered_token


@pytest.fixture
def jwks_url(signing_key: DevSigningKey, tmp_path: Path) -> str:
    return signing_key.write_jwks(tmp_path / "jwks.json").as_uri()


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
    checking = JwksVerifier(jwks_url, issuer="platform-identity", audience="platform", clock=clock)
    return CachingVerifier(checking, ttl=60.0, max_entries=2, clock=clock)


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
    token = tampered_token(signing_key.mint())
    for _ in range(2):
        with pytest.raises(InvalidToken):
            await verifier.verify(token)
    assert checks.count == 2
