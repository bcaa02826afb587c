"""Bearer JWT verification against a file:// JWKS: what passes, what is refused, rotation;
and a service refusing what the verifier refuses."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import web
from jose import jwt

from chassis import jwks
from chassis.config import WebSettings
from chassis.jwks import CLOCK_SKEW_SECONDS
from chassis.web.app import service_app
from chassis.web.auth import (
    Caller,
    InvalidToken,
    JwksVerifier,
    require_tenant,
)
from chassis.web.openapi import Route
from chassis.web.parsing import json_response
from chassis.web.problems import PROBLEM_CONTENT_TYPE
from testkit.tokens import (
    AUDIENCE,
    ISSUER,
    REFUSED_TOKENS,
    DevSigningKey,
    hs256_with_public_key,
)

SKEW = timedelta(seconds=CLOCK_SKEW_SECONDS)


def write_jwks(path: Path, *keys: DevSigningKey) -> None:
    path.write_text(json.dumps({"keys": [k.jwks()["keys"][0] for k in keys]}))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _now() -> int:
    return int(datetime.now(UTC).timestamp())


def claims(**overrides) -> dict:
    now = _now()
    return {
        "sub": "user-1",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "tenant_id": "tenant-1",
        "roles": ["standard"],
        **overrides,
    }


def sign(key: DevSigningKey, payload: dict, kid: str | None = None) -> str:
    token: str = jwt.encode(
        payload, key.private_pem.decode(), algorithm="RS256", headers={"kid": kid or key.kid}
    )
    return token


def unsigned(header: dict, payload: dict, signature: bytes = b"") -> str:
    return ".".join(
        [
            b64url(json.dumps(header).encode()),
            b64url(json.dumps(payload).encode()),
            b64url(signature),
        ]
    )


@pytest.fixture
def jwks_path(tmp_path, signing_key) -> Path:
    path = tmp_path / "jwks.json"
    write_jwks(path, signing_key)
    return path


@pytest.fixture
def verifier(jwks_path) -> JwksVerifier:
    return JwksVerifier(jwks_path.as_uri(), issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture(scope="module")
def other_key() -> DevSigningKey:
    return DevSigningKey.generate()


async def test_valid_token_gives_the_caller(verifier, token):
    caller = await verifier.verify(
        token(user_id="user-1", tenant_id="tenant-1", roles=["standard", "operations"])
    )
    assert caller == Caller("user-1", "tenant-1", frozenset({"standard", "operations"}))
    assert caller.has_role("operations")
    assert not caller.has_role("admin")


async def test_token_without_tenant_gives_a_caller_without_tenant(verifier, token):
    caller = await verifier.verify(token(user_id="machine-1", tenant_id=None, roles=[]))
    assert caller == Caller("machine-1", None, frozenset())


async def test_a_token_valid_since_its_nbf_gives_the_caller(verifier, signing_key):
    token = signing_key.mint(user_id="u", not_before=-timedelta(minutes=1))
    assert (await verifier.verify(token)).user_id == "u"


async def test_an_audience_list_naming_ours_is_accepted(verifier, signing_key):
    token = signing_key.sign(claims(aud=["billing", AUDIENCE]))
    assert (await verifier.verify(token)).user_id == "user-1"


@pytest.mark.parametrize(
    "skewed",
    [
        {"exp": -5},  # expired moments ago by our clock
        {"nbf": 5},  # valid in a moment by our clock
        {"iat": 5},  # issued by a clock a little ahead of ours
    ],
)
async def test_a_small_clock_skew_is_tolerated(verifier, signing_key, skewed):
    assert max(abs(seconds) for seconds in skewed.values()) < CLOCK_SKEW_SECONDS
    now = _now()
    token = signing_key.sign(claims(**{name: now + s for name, s in skewed.items()}))
    assert (await verifier.verify(token)).user_id == "user-1"


async def test_a_fractional_numeric_date_is_accepted(verifier, signing_key):
    token = signing_key.sign(claims(exp=_now() + 600.5, iat=_now() - 0.25))
    assert (await verifier.verify(token)).user_id == "user-1"


def _tampered_payload(signing_key: DevSigningKey) -> str:
    header, _, signature = sign(signing_key, claims()).split(".")
    return ".".join([header, b64url(json.dumps(claims(sub="admin")).encode()), signature])


# case: (token from the published key and another key, the reason it must be refused for)
REFUSED = {
    "expired": (lambda key, other: key.mint(expires_in=-(SKEW + timedelta(seconds=30))), "expired"),
    "not yet valid": (
        lambda key, other: key.mint(not_before=SKEW + timedelta(seconds=30)),
        "not yet valid",
    ),
    "issued in the future": (
        lambda key, other: key.sign(claims(iat=_now() + CLOCK_SKEW_SECONDS + 30)),
        "issued in the future",
    ),
    "wrong issuer": (lambda key, other: key.mint(issuer="someone-else"), "Invalid issuer"),
    "wrong audience": (
        lambda key, other: key.mint(audience="another-platform"),
        "Invalid audience",
    ),
    "tampered payload": (lambda key, other: _tampered_payload(key), "Signature verification"),
    # Signed by another key under our kid: the signature does not match the published key.
    "forged signature": (
        lambda key, other: sign(other, claims(), kid=key.kid),
        "Signature verification",
    ),
    "alg none": (
        lambda key, other: unsigned({"alg": "none", "typ": "JWT"}, claims()),
        "'none' is not accepted",
    ),
    "alg none with kid": (
        lambda key, other: unsigned({"alg": "none", "typ": "JWT", "kid": key.kid}, claims()),
        "'none' is not accepted",
    ),
    "hs256 with the public key": (
        lambda key, other: hs256_with_public_key(key, claims()),
        "'HS256' is not accepted",
    ),
    "unknown kid": (lambda key, other: sign(other, claims()), "unknown key"),
    "missing sub": (lambda key, other: key.mint(without=["sub"]), '"sub"'),
    "missing exp": (lambda key, other: key.mint(without=["exp"]), "exp"),
    # Without these python-jose skips the check, unless told the claim is required.
    "missing aud": (lambda key, other: key.mint(without=["aud"]), '"aud"'),
    "missing iss": (lambda key, other: key.mint(without=["iss"]), '"iss"'),
    "missing iat": (lambda key, other: key.mint(without=["iat"]), "iat"),
    "sub not a string": (lambda key, other: key.sign(claims(sub=7)), "Subject must be a string"),
    "empty sub": (lambda key, other: key.sign(claims(sub="")), "sub"),
    "exp not a number": (lambda key, other: key.sign(claims(exp="tomorrow")), "exp"),
    "exp null": (lambda key, other: key.sign(claims(exp=None)), "exp"),
    "exp infinite": (lambda key, other: key.sign(claims(exp=float("inf"))), "exp"),
    "exp true": (lambda key, other: key.sign(claims(exp=True)), "exp"),
    "iat a list": (lambda key, other: key.sign(claims(iat=[1])), "iat"),
    "nbf null": (lambda key, other: key.sign(claims(nbf=None)), "nbf"),
    "nbf not a number": (lambda key, other: key.sign(claims(nbf="now")), "nbf"),
    "tenant a number": (lambda key, other: key.sign(claims(tenant_id=7)), "tenant_id"),
    "tenant a list": (lambda key, other: key.sign(claims(tenant_id=["a", "b"])), "tenant_id"),
    "tenant empty": (lambda key, other: key.sign(claims(tenant_id="")), "tenant_id"),
    "roles not a list": (lambda key, other: key.sign(claims(roles="admin")), "roles"),
    "roles null": (lambda key, other: key.sign(claims(roles=None)), "roles"),
    "not a jwt": (lambda key, other: "not-a-token", "malformed"),
    "garbage segments": (lambda key, other: "a.b.c", "malformed"),
}


@pytest.mark.parametrize("case", list(REFUSED))
async def test_refused_tokens(case, verifier, signing_key, other_key):
    # The verifier knows the keys first, so each case is refused for its own reason.
    await verifier.verify(signing_key.mint())
    make_token, reason = REFUSED[case]
    with pytest.raises(InvalidToken, match=reason):
        await verifier.verify(make_token(signing_key, other_key))


async def test_unknown_kid_does_not_refetch_the_keys_on_every_token(
    verifier, signing_key, other_key, monkeypatch
):
    fetches = 0
    fetch = verifier._jwks._fetch

    async def counting_fetch():
        nonlocal fetches
        fetches += 1
        return await fetch()

    monkeypatch.setattr(verifier._jwks, "_fetch", counting_fetch)
    await verifier.verify(signing_key.mint())
    for _ in range(5):
        with pytest.raises(InvalidToken, match="unknown key"):
            await verifier.verify(sign(other_key, claims()))
    assert fetches == 1


async def test_rotated_key_is_picked_up(jwks_path, signing_key, other_key):
    verifier = JwksVerifier(
        jwks_path.as_uri(), issuer=ISSUER, audience=AUDIENCE, min_refresh_seconds=0.1
    )
    assert (await verifier.verify(signing_key.mint(user_id="old"))).user_id == "old"

    # The issuer publishes a new key next to the old one and starts signing with it.
    write_jwks(jwks_path, signing_key, other_key)
    await asyncio.sleep(0.15)
    assert (await verifier.verify(other_key.mint(user_id="new"))).user_id == "new"
    assert (await verifier.verify(signing_key.mint(user_id="old"))).user_id == "old"

    # Later the old key is withdrawn: once the cache is refreshed its tokens are refused.
    write_jwks(jwks_path, other_key)
    await asyncio.sleep(0.15)
    with pytest.raises(InvalidToken):
        await verifier.verify(sign(DevSigningKey.generate(), claims()))  # unknown: refetch
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.verify(signing_key.mint())


async def test_known_keys_are_kept_while_the_jwks_is_unreachable(jwks_path, signing_key):
    verifier = JwksVerifier(
        jwks_path.as_uri(), issuer=ISSUER, audience=AUDIENCE, cache_seconds=0.05
    )
    await verifier.verify(signing_key.mint())
    jwks_path.unlink()
    await asyncio.sleep(0.1)  # the cache is stale, the refetch fails, the known key still serves
    assert (await verifier.verify(signing_key.mint(user_id="u"))).user_id == "u"


async def test_no_keys_at_all_is_an_invalid_token(tmp_path, signing_key):
    missing = tmp_path / "absent.json"
    verifier = JwksVerifier(missing.as_uri(), issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(InvalidToken, match="signing keys unavailable"):
        await verifier.verify(signing_key.mint())


async def test_first_token_after_boot_fetches_the_keys(jwks_path, signing_key, monkeypatch):
    # time.monotonic() counts from boot: a service started seconds after boot must still
    # fetch its keys for the first token instead of thinking it just did.
    monkeypatch.setattr(jwks, "time", SimpleNamespace(monotonic=lambda: 3.0))
    verifier = JwksVerifier(jwks_path.as_uri(), issuer=ISSUER, audience=AUDIENCE)
    assert (await verifier.verify(signing_key.mint(user_id="early"))).user_id == "early"


# Straight at a service, as every service is composed: each refused with a 401 problem.
@pytest.fixture
async def service(serve, jwks_path) -> str:
    async def who(request: web.Request) -> web.Response:
        caller, tenant = require_tenant(request)
        return json_response({"user_id": caller.user_id, "tenant_id": tenant})

    settings = WebSettings(service_name="who", jwks_url=jwks_path.as_uri())
    return await serve(service_app(settings, [Route("GET", "/who", who, "The caller.")]))


async def test_a_service_answers_a_valid_caller(service, http, signing_key):
    bearer = {"Authorization": f"Bearer {signing_key.mint(user_id='u1', tenant_id='t1')}"}
    async with http.get(f"{service}/who", headers=bearer) as response:
        assert response.status == 200
        assert await response.json() == {"user_id": "u1", "tenant_id": "t1"}


@pytest.mark.parametrize("case", REFUSED_TOKENS)
async def test_a_service_refuses_a_token_lacking_or_mistyping_a_claim(
    case, service, http, signing_key
):
    bearer = {"Authorization": f"Bearer {REFUSED_TOKENS[case](signing_key)}"}
    async with http.get(f"{service}/who", headers=bearer) as response:
        assert response.status == 401, await response.text()
        assert response.content_type == PROBLEM_CONTENT_TYPE
        assert (await response.json(content_type=None))["status"] == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


async def test_a_service_verifies_a_token_once_and_remembers_it(
    service, http, signing_key, monkeypatch
):
    checks = 0
    original = JwksVerifier.verify

    async def counted(verifier: JwksVerifier, token: str) -> Caller:
        nonlocal checks
        checks += 1
        return await original(verifier, token)

    monkeypatch.setattr(JwksVerifier, "verify", counted)
    bearer = {"Authorization": f"Bearer {signing_key.mint(user_id='u1', tenant_id='t1')}"}
    for _ in range(3):
        async with http.get(f"{service}/who", headers=bearer) as response:
            assert response.status == 200
    assert checks == 1
