"""The OpenID Connect simulator, served for real: the code flow with PKCE as a client drives
it, and what a real provider refuses, refused the way OAuth2 says."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from jose import jwt

from simulators.oidc import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Client,
    Simulator,
    s256,
)
from testkit.web import serving

REDIRECT = "http://127.0.0.1:8080/sso/callback"
OTHER = Client("other-app", "other-secret", frozenset(["http://other.test/cb"]))


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Provider:
    url: str
    simulator: Simulator
    clock: Clock


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    clock = Clock()
    ours = Client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, frozenset([REDIRECT]))
    simulator = Simulator({c.client_id: c for c in (ours, OTHER)}, clock=clock)
    async with serving(simulator.app()) as url:
        yield Provider(url, simulator, clock)


def verifier() -> str:
    return secrets.token_urlsafe(48)


def authorize_query(code_verifier: str, **overrides: str | None) -> dict[str, str]:
    query: dict[str, str | None] = {
        "response_type": "code",
        "client_id": DEFAULT_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": "openid email profile",
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": s256(code_verifier),
        "code_challenge_method": "S256",
        "login_hint": "ada.lovelace@example.com",
        **overrides,
    }
    return {name: value for name, value in query.items() if value is not None}


async def authorize(url: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
    """The status, the redirect's query (if it redirected) and the body (if it did not)."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/authorize", params=query, allow_redirects=False) as response,
    ):
        if response.status == 302:
            location = urlsplit(response.headers["Location"])
            assert f"{location.scheme}://{location.netloc}{location.path}" == query["redirect_uri"]
            params = {k: v[0] for k, v in parse_qs(location.query).items()}
            return 302, params, None
        assert "Location" not in response.headers
        return response.status, {}, await response.json()


async def code_for(url: str, code_verifier: str, **overrides: str | None) -> str:
    status, params, _ = await authorize(url, authorize_query(code_verifier, **overrides))
    assert status == 302 and params["state"] == "st-1", params
    return params["code"]


async def token(
    url: str,
    form: dict[str, str],
    *,
    basic: tuple[str, str] | None = None,
    post: tuple[str, str] | None = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
) -> tuple[int, dict[str, Any]]:
    headers = {}
    if basic is not None:
        raw = f"{basic[0]}:{basic[1]}".encode()
        headers["Authorization"] = f"Basic {base64.b64encode(raw).decode()}"
    if post is not None:
        form = {**form, "client_id": post[0], "client_secret": post[1]}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/token", data=form, headers=headers) as response,
    ):
        return response.status, await response.json()


def exchange(code: str, code_verifier: str, redirect_uri: str = REDIRECT) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        return await response.json()


async def test_the_discovery_document_names_its_own_base_url(provider: Provider) -> None:
    document = await get_json(f"{provider.url}/.well-known/openid-configuration")
    assert document["issuer"] == provider.url
    assert document["authorization_endpoint"] == f"{provider.url}/authorize"
    assert document["token_endpoint"] == f"{provider.url}/token"
    assert document["jwks_uri"] == f"{provider.url}/jwks"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    [key] = (await get_json(document["jwks_uri"]))["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["kid"]


async def test_the_code_flow_gives_an_id_token_signed_with_the_published_key(
    provider: Provider,
) -> None:
    code_verifier = verifier()
    code = await code_for(provider.url, code_verifier)
    status, answer = await token(provider.url, exchange(code, code_verifier))
    assert status == 200, answer
    assert answer["token_type"] == "Bearer" and answer["access_token"]
    assert answer["expires_in"] > 0
    jwks = await get_json(f"{provider.url}/jwks")
    claims = jwt.decode(
        answer["id_token"],
        jwks,
        algorithms=["RS256"],
        audience=DEFAULT_CLIENT_ID,
        issuer=provider.url,
        access_token=answer["access_token"],
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    now = int(provider.clock.now)
    assert claims | {"sub": "?", "at_hash": "?"} == {
        "iss": provider.url,
        "sub": "?",
        "aud": DEFAULT_CLIENT_ID,
        "azp": DEFAULT_CLIENT_ID,
        "iat": now,
        "exp": now + 3600,
        "auth_time": now,
        "nonce": "n-1",
        "email": "ada.lovelace@example.com",
        "email_verified": True,
        "given_name": "Ada",
        "family_name": "Lovelace",
        "name": "Ada Lovelace",
        "at_hash": "?",
    }

    # Another sign-in of the same person, by HTTP Basic this time: the same subject.
    again = verifier()
    second = await code_for(
        provider.url, again, nonce=None, given_name="Augusta", email_verified="false"
    )
    status, answer = await token(
        provider.url,
        exchange(second, again),
        basic=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        post=None,
    )
    assert status == 200, answer
    later = jwt.get_unverified_claims(answer["id_token"])
    assert later["sub"] == claims["sub"]
    assert "nonce" not in later
    assert (later["given_name"], later["family_name"]) == ("Augusta", "Lovelace")
    assert later["email_verified"] is False

    code = await code_for(provider.url, again, login_hint="grace@example.com")
    status, answer = await token(provider.url, exchange(code, again))
    other = jwt.get_unverified_claims(answer["id_token"])
    assert other["sub"] != claims["sub"]
    assert (other["given_name"], other.get("family_name")) == ("Grace", None)


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "nobody"},
        {"client_id": None},
        {"redirect_uri": "http://evil.test/cb"},
        {"redirect_uri": f"{REDIRECT}/more"},
        {"redirect_uri": "http://other.test/cb"},  # registered, for another client
    ],
)
async def test_an_unknown_client_or_redirect_uri_is_shown_a_400_never_redirected(
    provider: Provider, overrides: dict[str, str | None]
) -> None:
    status, _, body = await authorize(provider.url, authorize_query(verifier(), **overrides))
    assert status == 400
    assert body["error"] in {"invalid_client", "invalid_request"}


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "email profile"}, "invalid_scope"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"login_hint": None}, "login_required"),
        ({"login_hint": "not-an-email"}, "invalid_request"),
    ],
)
async def test_a_bad_request_from_a_known_client_is_redirected_back_with_the_error(
    provider: Provider, overrides: dict[str, str | None], error: str
) -> None:
    status, params, _ = await authorize(provider.url, authorize_query(verifier(), **overrides))
    assert status == 302
    assert params["error"] == error and params["state"] == "st-1"
    assert "code" not in params and params["error_description"]
    assert provider.simulator.grants == {}


async def test_refused_exchanges(provider: Provider) -> None:
    url = provider.url

    async def refused(form: dict[str, str], **auth: Any) -> str:
        status, answer = await token(url, form, **auth)
        assert status == 400, answer
        return str(answer["error"])

    right = verifier()
    code = await code_for(url, right)
    assert await refused(exchange(code, verifier())) == "invalid_grant"
    # The failed try used the code up, as real providers do.
    assert await refused(exchange(code, right)) == "invalid_grant"

    code = await code_for(url, right)
    assert (await token(url, exchange(code, right)))[0] == 200
    assert await refused(exchange(code, right)) == "invalid_grant"  # used twice

    code = await code_for(url, right)
    assert await refused(exchange(code, right, "http://127.0.0.1:8080/elsewhere")) == (
        "invalid_grant"
    )

    code = await code_for(url, right)
    provider.clock.now += 61
    assert await refused(exchange(code, right)) == "invalid_grant"  # expired

    code = await code_for(url, right)
    assert await refused(exchange(code, right), post=(OTHER.client_id, OTHER.secret)) == (
        "invalid_grant"
    )

    code = await code_for(url, right)
    assert await refused({**exchange(code, right), "grant_type": "password"}) == (
        "unsupported_grant_type"
    )
    assert await refused({**exchange(code, right), "code_verifier": "short"}) == ("invalid_request")
    both = {"basic": (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)}
    assert await refused(exchange(code, right), **both) == "invalid_request"


@pytest.mark.parametrize(
    "auth",
    [
        {"post": None},
        {"post": (DEFAULT_CLIENT_ID, "wrong")},
        {"post": ("nobody", DEFAULT_CLIENT_SECRET)},
        {"post": None, "basic": (DEFAULT_CLIENT_ID, "wrong")},
    ],
)
async def test_a_client_that_does_not_authenticate_is_an_invalid_client(
    provider: Provider, auth: dict[str, Any]
) -> None:
    right = verifier()
    code = await code_for(provider.url, right)
    status, answer = await token(provider.url, exchange(code, right), **auth)
    assert (status, answer["error"]) == (401, "invalid_client")
    # The code is still good for the client it was issued to.
    assert (await token(provider.url, exchange(code, right)))[0] == 200


async def test_after_a_rotation_the_new_key_signs_and_both_are_published(
    provider: Provider,
) -> None:
    [before] = (await get_json(f"{provider.url}/jwks"))["keys"]
    async with aiohttp.ClientSession() as http, http.post(f"{provider.url}/_simulator/rotate") as r:
        kid = (await r.json())["kid"]
    assert kid != before["kid"]
    assert [k["kid"] for k in (await get_json(f"{provider.url}/jwks"))["keys"]] == [
        kid,
        before["kid"],
    ]
    right = verifier()
    code = await code_for(provider.url, right)
    _, answer = await token(provider.url, exchange(code, right))
    assert jwt.get_unverified_header(answer["id_token"])["kid"] == kid
