"""Identity's OpenID Connect adapter against providers served for real on free ports: the
simulator for the code flow and its refusals, and a hostile provider of this module for the
id_tokens an attacker or a broken provider would hand over."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from pydantic import ValidationError

from chassis.errors import Unavailable
from identity.sso.provider import OidcProvider, SsoIdentity, SsoRefused
from identity.sso.settings import SsoProviderSettings, SsoSettings
from simulators.oidc import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from testkit.oidc import OidcSimulator, served_simulator
from testkit.tokens import DevSigningKey, hs256_with_public_key, tampered_token, unsigned_token
from testkit.web import serving


def settings_for(url: str, **overrides: Any) -> SsoProviderSettings:
    return SsoProviderSettings.model_validate(
        {
            "name": "local",
            "issuer": url,
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            **overrides,
        }
    )


@pytest.fixture
async def simulator() -> AsyncIterator[OidcSimulator]:
    async with served_simulator() as simulator:
        yield simulator


class HostileProvider:
    """A provider that answers every code with the id_token a test crafted, signed with keys
    it publishes; counts what it is asked."""

    def __init__(self) -> None:
        self.url = ""
        self.key = DevSigningKey.generate()
        self.published = [self.key]
        self.issuer: str | None = None
        self.id_token = ""
        self.access_token = "at-1"
        self.token_status = 200
        self.asked: dict[str, int] = {"discovery": 0, "jwks": 0, "token": 0}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """What an honest id_token for our client holds, issued now, with `overrides`."""
        now = int(time.time())
        return {
            "iss": self.url,
            "sub": "hostile-1",
            "aud": DEFAULT_CLIENT_ID,
            "iat": now,
            "exp": now + 600,
            "email": "mallory@example.com",
            "email_verified": True,
            **overrides,
        }

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/.well-known/openid-configuration", self._discovery),
                web.get("/jwks", self._jwks),
                web.post("/token", self._token),
            ]
        )
        return app

    async def _discovery(self, _: web.Request) -> web.Response:
        self.asked["discovery"] += 1
        return web.json_response(
            {
                "issuer": self.issuer or self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
            }
        )

    async def _jwks(self, _: web.Request) -> web.Response:
        self.asked["jwks"] += 1
        return web.json_response({"keys": [k.jwks()["keys"][0] for k in self.published]})

    async def _token(self, request: web.Request) -> web.Response:
        self.asked["token"] += 1
        form = await request.post()
        # It takes the client's secret in the form (its discovery document says so).
        if form.get("client_secret") != DEFAULT_CLIENT_SECRET:
            return web.json_response({"error": "invalid_client"}, status=401)
        if self.token_status != 200:
            return web.json_response({"error": "temporarily_unavailable"}, status=503)
        return web.json_response(
            {"access_token": self.access_token, "token_type": "Bearer", "id_token": self.id_token}
        )


@pytest.fixture
async def hostile() -> AsyncIterator[HostileProvider]:
    provider = HostileProvider()
    async with serving(provider.app()) as url:
        provider.url = url
        yield provider


def provider_for(url: str, **overrides: Any) -> OidcProvider:
    return OidcProvider(settings_for(url), **overrides)


# --- the code flow against the simulator ------------------------------------------------------


async def test_a_person_signed_in_at_the_provider_is_who_the_code_says(
    simulator: OidcSimulator,
) -> None:
    provider = provider_for(simulator.url)
    signed_in = await simulator.sign_in("ada.lovelace@example.com", nonce="n-42")
    identity = await provider.exchange(
        signed_in.code, signed_in.code_verifier, signed_in.redirect_uri, nonce="n-42"
    )
    assert identity == SsoIdentity(
        provider="local",
        subject=identity.subject,
        email="ada.lovelace@example.com",
        email_verified=True,
        first_name="Ada",
        last_name="Lovelace",
    )
    assert identity.subject

    again = await simulator.sign_in(
        "ada.lovelace@example.com", given_name="Augusta Ada", email_verified="false"
    )
    later = await provider.exchange(again.code, again.code_verifier, again.redirect_uri)
    assert later.subject == identity.subject
    assert (later.first_name, later.email_verified) == ("Augusta Ada", False)


async def test_a_provider_that_vouches_for_its_addresses(simulator: OidcSimulator) -> None:
    # Microsoft's work accounts carry no email_verified: the setting says whether to trust them.
    vouching = OidcProvider(settings_for(simulator.url, vouches_for_email=True))
    signed_in = await simulator.sign_in("kim@example.com", email_verified="false")
    person = await vouching.exchange(
        signed_in.code, signed_in.code_verifier, signed_in.redirect_uri
    )
    assert person.email_verified


async def test_a_wrong_code_verifier_is_refused(simulator: OidcSimulator) -> None:
    signed_in = await simulator.sign_in("ada@example.com")
    with pytest.raises(SsoRefused, match="invalid_grant"):
        await provider_for(simulator.url).exchange(
            signed_in.code, secrets.token_urlsafe(48), signed_in.redirect_uri
        )


async def test_a_code_used_twice_is_refused_the_second_time(simulator: OidcSimulator) -> None:
    provider = provider_for(simulator.url)
    signed_in = await simulator.sign_in("ada@example.com")
    await provider.exchange(signed_in.code, signed_in.code_verifier, signed_in.redirect_uri)
    with pytest.raises(SsoRefused, match="invalid_grant"):
        await provider.exchange(signed_in.code, signed_in.code_verifier, signed_in.redirect_uri)


async def test_a_code_redeemed_for_another_redirect_uri_is_refused(
    simulator: OidcSimulator,
) -> None:
    signed_in = await simulator.sign_in("ada@example.com")
    with pytest.raises(SsoRefused, match="invalid_grant"):
        await provider_for(simulator.url).exchange(
            signed_in.code, signed_in.code_verifier, "http://127.0.0.1:8080/elsewhere"
        )


async def test_an_id_token_without_the_nonce_sent_is_refused(simulator: OidcSimulator) -> None:
    signed_in = await simulator.sign_in("ada@example.com", nonce="n-1")
    with pytest.raises(SsoRefused, match="nonce"):
        await provider_for(simulator.url).exchange(
            signed_in.code, signed_in.code_verifier, signed_in.redirect_uri, nonce="n-2"
        )


async def test_a_key_rotated_in_is_fetched_but_not_more_often_than_allowed(
    simulator: OidcSimulator,
) -> None:
    eager = provider_for(simulator.url, min_key_refresh_seconds=0.2)
    reluctant = provider_for(simulator.url)  # the default: seconds between refetches
    for provider in (eager, reluctant):
        signed_in = await simulator.sign_in("ada@example.com")
        await provider.exchange(signed_in.code, signed_in.code_verifier, signed_in.redirect_uri)

    await simulator.rotate_keys()
    await asyncio.sleep(0.25)
    signed_in = await simulator.sign_in("ada@example.com")
    with pytest.raises(SsoRefused, match="unknown key"):
        await reluctant.exchange(signed_in.code, signed_in.code_verifier, signed_in.redirect_uri)
    signed_in = await simulator.sign_in("ada@example.com")
    identity = await eager.exchange(signed_in.code, signed_in.code_verifier, signed_in.redirect_uri)
    assert identity.email == "ada@example.com"


async def test_wrong_client_credentials_are_ours_to_fix_not_the_persons(
    simulator: OidcSimulator,
) -> None:
    provider = OidcProvider(settings_for(simulator.url, client_secret="not-the-secret"))
    signed_in = await simulator.sign_in("ada@example.com")
    with pytest.raises(Unavailable, match="refuses our client"):
        await provider.exchange(signed_in.code, signed_in.code_verifier, signed_in.redirect_uri)


async def test_a_provider_that_does_not_answer_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(Unavailable, match="did not answer"):
        await provider_for(closed).exchange("code", secrets.token_urlsafe(48), "http://x.test/")


# --- what a hostile or broken provider hands over ---------------------------------------------


async def exchanged(hostile: HostileProvider, provider: OidcProvider | None = None) -> SsoIdentity:
    return await (provider or provider_for(hostile.url)).exchange(
        "any-code", secrets.token_urlsafe(48), "http://127.0.0.1:8080/sso/callback"
    )


async def test_an_honest_id_token_from_the_hostile_provider_passes(
    hostile: HostileProvider,
) -> None:
    # The cases below differ from this one only by what they break.
    hostile.id_token = hostile.key.sign(hostile.claims(name="Mallory Evil"))
    identity = await exchanged(hostile)
    assert (identity.subject, identity.first_name, identity.last_name) == (
        "hostile-1",
        "Mallory",
        "Evil",
    )


REFUSED_ID_TOKENS: dict[str, tuple[Callable[[HostileProvider], str], str]] = {
    "from another issuer": (
        lambda h: h.key.sign(h.claims(iss="https://accounts.google.com")),
        "Invalid issuer",
    ),
    "for another client": (lambda h: h.key.sign(h.claims(aud="another-app")), "audience"),
    "for several clients, no azp": (
        lambda h: h.key.sign(h.claims(aud=["another-app", DEFAULT_CLIENT_ID])),
        "no azp",
    ),
    "authorized for another client": (
        lambda h: h.key.sign(h.claims(aud=[DEFAULT_CLIENT_ID, "x"], azp="x")),
        "azp",
    ),
    "expired": (lambda h: h.key.sign(h.claims(exp=int(time.time()) - 120)), "expired"),
    "alg none": (lambda h: unsigned_token(h.claims()), "'none' is not accepted"),
    "hs256 keyed with the public key": (
        lambda h: hs256_with_public_key(h.key, h.claims()),
        "'HS256' is not accepted",
    ),
    "tampered signature": (lambda h: _tampered_signature(h.key.sign(h.claims())), "Signature"),
    "tampered claims": (lambda h: tampered_token(h.key.sign(h.claims())), "Signature"),
    "signed by a key not published": (
        lambda h: DevSigningKey.generate().sign(h.claims()),
        "unknown key",
    ),
    "without iat": (lambda h: h.key.sign(_without(h.claims(), "iat")), "iat"),
    "without sub": (lambda h: h.key.sign(_without(h.claims(), "sub")), "sub"),
    "without email": (lambda h: h.key.sign(_without(h.claims(), "email")), "email"),
    "an at_hash of another access token": (
        lambda h: h.key.sign(h.claims(at_hash="AAAAAAAAAAAAAAAAAAAAAA")),
        "at_hash",
    ),
}


def _without(claims: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in claims.items() if k != name}


def _tampered_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    return f"{header}.{payload}.{flipped}"


@pytest.mark.parametrize("case", list(REFUSED_ID_TOKENS))
async def test_an_id_token_that_cannot_be_trusted_is_refused(
    hostile: HostileProvider, case: str
) -> None:
    craft, reason = REFUSED_ID_TOKENS[case]
    hostile.id_token = craft(hostile)
    with pytest.raises(SsoRefused, match=reason):
        await exchanged(hostile)


async def test_an_unknown_kid_refetches_the_keys_once_then_finds_a_rotated_key(
    hostile: HostileProvider,
) -> None:
    provider = provider_for(hostile.url, min_key_refresh_seconds=0.2)
    hostile.id_token = hostile.key.sign(hostile.claims())
    await exchanged(hostile, provider)
    assert hostile.asked == {"discovery": 1, "jwks": 1, "token": 1}

    rotated = DevSigningKey.generate()
    hostile.id_token = rotated.sign(hostile.claims())
    await asyncio.sleep(0.25)
    with pytest.raises(SsoRefused, match="unknown key"):
        await exchanged(hostile, provider)  # not published yet: fetched again, still unknown
    with pytest.raises(SsoRefused, match="unknown key"):
        await exchanged(hostile, provider)  # too soon to fetch again
    assert hostile.asked["jwks"] == 2

    hostile.published.append(rotated)
    await asyncio.sleep(0.25)
    assert (await exchanged(hostile, provider)).subject == "hostile-1"
    # The discovery document is read once for all of these.
    assert hostile.asked == {"discovery": 1, "jwks": 3, "token": 4}


async def test_a_discovery_document_naming_another_issuer_is_not_used(
    hostile: HostileProvider,
) -> None:
    hostile.issuer = "https://accounts.google.com"
    hostile.id_token = hostile.key.sign(hostile.claims())
    with pytest.raises(Unavailable, match="not configured right"):
        await exchanged(hostile)
    assert hostile.asked["token"] == 0


async def test_a_token_endpoint_failing_is_unavailable_and_not_asked_twice(
    hostile: HostileProvider,
) -> None:
    hostile.token_status = 503
    with pytest.raises(Unavailable, match="did not answer as expected"):
        await exchanged(hostile)
    assert hostile.asked["token"] == 1


# --- settings -----------------------------------------------------------------------------------


def test_the_providers_are_read_from_sso_providers_as_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    google = {
        "name": "google",
        "issuer": "https://accounts.google.com",
        "client_id": "123.apps.googleusercontent.com",
        "client_secret": "g-secret",
    }
    microsoft = {
        "name": "microsoft",
        "issuer": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
        "client_id": "00000000-0000-0000-0000-000000000001",
        "client_secret": "m-secret",
        "scopes": ["openid", "email", "profile"],
    }
    monkeypatch.setenv("SSO_PROVIDERS", json.dumps([google, microsoft]))
    settings = SsoSettings(service_name="identity")
    assert [(p.name, p.issuer) for p in settings.sso_providers] == [
        ("google", google["issuer"]),
        ("microsoft", microsoft["issuer"]),
    ]
    assert settings.sso_providers[0].client_secret.get_secret_value() == "g-secret"
    assert "g-secret" not in repr(settings)

    monkeypatch.setenv("SSO_PROVIDERS", json.dumps([google, google]))
    with pytest.raises(ValidationError, match="name of its own"):
        SsoSettings(service_name="identity")
    monkeypatch.setenv("SSO_PROVIDERS", json.dumps([{**google, "scopes": ["email"]}]))
    with pytest.raises(ValidationError, match="openid"):
        SsoSettings(service_name="identity")
    monkeypatch.delenv("SSO_PROVIDERS")
    assert SsoSettings(service_name="identity").sso_providers == []
