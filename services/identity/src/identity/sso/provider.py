"""Single sign-on: the port a use case signs a person in through, and its adapter for any
OpenID Connect provider, the authorization code flow with PKCE (RFC 6749 4.1, RFC 7636,
OpenID Connect Core 1.0 3.1 and Discovery 1.0). Google, Microsoft and the local simulator
differ only in their settings."""

from __future__ import annotations

import asyncio
import base64
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn, Protocol
from urllib.parse import quote_plus

import aiohttp
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, field_validator
from tenacity import AsyncRetrying, retry_if_exception_type

from chassis.errors import Unauthenticated, Unavailable
from chassis.jwks import (
    ALGORITHM,
    MIN_REFRESH_SECONDS,
    InvalidJwt,
    JwksKeys,
    KeysUnavailable,
    claim_errors,
    fetch_json,
    verified_claims,
)
from chassis.logging import get_logger
from chassis.retry import outbound_retry
from identity.sso.settings import SsoProviderSettings

log = get_logger(__name__)

# Providers change their endpoints and key location rarely; their keys are refetched on an
# unknown kid regardless.
DISCOVERY_CACHE_SECONDS = 3600.0


@dataclass(frozen=True)
class SsoIdentity:
    """Who the provider says signed in: `subject` is theirs for the person, stable, and
    unique within `provider`."""

    provider: str
    subject: str
    email: str
    email_verified: bool
    first_name: str | None
    last_name: str | None


class SsoRefused(Unauthenticated):
    """The provider refused the code, or what it answered cannot be trusted."""


class SsoProvider(Protocol):
    name: str

    async def exchange(
        self, code: str, code_verifier: str, redirect_uri: str, *, nonce: str | None = None
    ) -> SsoIdentity:
        """The person the authorization code stands for; SsoRefused, or Unavailable when
        the provider does not answer. `nonce`, when the authorization request sent one, must
        come back in the id_token."""
        ...


class Discovery(BaseModel):
    """What of a provider's discovery document the code flow needs."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    issuer: str
    token_endpoint: str = Field(pattern=r"^https?://")
    jwks_uri: str = Field(pattern=r"^https?://")
    # Discovery 1.0 3: absent means client_secret_basic only.
    token_endpoint_auth_methods_supported: list[str] = ["client_secret_basic"]
    id_token_signing_alg_values_supported: list[str]


class TokenAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    access_token: str
    id_token: str = Field(min_length=1)


class IdTokenClaims(BaseModel):
    """The claims an id_token must carry beyond the registered ones (checked by the chassis),
    and those a person is registered with."""

    model_config = ConfigDict(extra="ignore")

    sub: str
    aud: str | list[str]
    azp: str | None = None
    nonce: str | None = None
    # Without an email there is nobody to register: the provider's scopes must include it.
    email: EmailStr
    # Microsoft's tokens have none; some providers send "true" as a string, which this reads.
    email_verified: bool = False
    given_name: str | None = None
    family_name: str | None = None
    name: str | None = None

    @field_validator("given_name", "family_name", "name")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value.strip() or None

    def names(self) -> tuple[str | None, str | None]:
        """First and last name; from `name` when the provider gives no separate ones
        (Microsoft, unless told to)."""
        if self.given_name or self.family_name or not self.name:
            return self.given_name, self.family_name
        first, _, last = self.name.partition(" ")
        return first, last.strip() or None


class OAuthError(BaseModel):
    model_config = ConfigDict(extra="ignore")

    error: str
    error_description: str | None = None


class OidcProvider:
    def __init__(
        self,
        settings: SsoProviderSettings,
        *,
        min_key_refresh_seconds: float = MIN_REFRESH_SECONDS,
        discovery_cache_seconds: float = DISCOVERY_CACHE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`clock` is the time id_tokens are judged at, in seconds since the epoch."""
        self.name = settings.name
        self._settings = settings
        self._min_key_refresh_seconds = min_key_refresh_seconds
        self._discovery_cache_seconds = discovery_cache_seconds
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_seconds)
        self._discovery: Discovery | None = None
        self._discovered_at = float("-inf")
        self._keys: JwksKeys | None = None
        self._lock = asyncio.Lock()

    async def exchange(
        self, code: str, code_verifier: str, redirect_uri: str, *, nonce: str | None = None
    ) -> SsoIdentity:
        discovery, keys = await self._discover()
        tokens = await self._redeem(discovery, code, code_verifier, redirect_uri)
        claims = await self._verify(keys, tokens, nonce)
        first_name, last_name = claims.names()
        return SsoIdentity(
            provider=self.name,
            subject=claims.sub,
            email=str(claims.email),
            email_verified=claims.email_verified or self._settings.vouches_for_email,
            first_name=first_name,
            last_name=last_name,
        )

    async def _discover(self) -> tuple[Discovery, JwksKeys]:
        if self._fresh():
            assert self._discovery is not None and self._keys is not None
            return self._discovery, self._keys
        async with self._lock:
            if not self._fresh():
                await self._rediscover()
        assert self._discovery is not None and self._keys is not None
        return self._discovery, self._keys

    def _fresh(self) -> bool:
        return time.monotonic() - self._discovered_at < self._discovery_cache_seconds

    async def _rediscover(self) -> None:
        issuer = self._settings.issuer
        url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
        try:
            fetched = await fetch_json(url, self._settings.timeout_seconds)
            discovery = Discovery.model_validate(fetched)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            if self._discovery is not None:
                log.warning("sso_discovery_stale", provider=self.name, error=repr(exc))
                return
            raise Unavailable(f"The {self.name} sign-in provider did not answer.") from exc
        # Discovery 1.0 4.3: a document naming another issuer is not to be used.
        if discovery.issuer != issuer:
            log.error("sso_issuer_mismatch", provider=self.name, named=discovery.issuer)
            raise Unavailable(f"The {self.name} sign-in provider is not configured right.")
        if ALGORITHM not in discovery.id_token_signing_alg_values_supported:
            raise Unavailable(f"The {self.name} sign-in provider does not sign with {ALGORITHM}.")
        if self._keys is None or self._keys.url != discovery.jwks_uri:
            self._keys = JwksKeys(
                discovery.jwks_uri, min_refresh_seconds=self._min_key_refresh_seconds
            )
        self._discovery = discovery
        self._discovered_at = time.monotonic()

    async def _redeem(
        self, discovery: Discovery, code: str, code_verifier: str, redirect_uri: str
    ) -> TokenAnswer:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        headers = {"Accept": "application/json"}
        client_id = self._settings.client_id
        secret = self._settings.client_secret.get_secret_value()
        methods = discovery.token_endpoint_auth_methods_supported
        if "client_secret_basic" in methods:
            # RFC 6749 2.3.1: each part form-urlencoded before they are joined.
            pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
            headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
        elif "client_secret_post" in methods:
            form |= {"client_id": client_id, "client_secret": secret}
        else:
            raise Unavailable(f"The {self.name} sign-in provider takes no client secret.")
        # A code is single use: once the request may have reached the provider, a second
        # try would be refused for the first one's sake. Only a connection never made is
        # tried again.
        policy = outbound_retry() | {"retry": retry_if_exception_type(aiohttp.ClientConnectorError)}
        try:
            async for attempt in AsyncRetrying(**policy):
                with attempt:
                    async with (
                        aiohttp.ClientSession(timeout=self._timeout) as http,
                        http.post(discovery.token_endpoint, data=form, headers=headers) as answer,
                    ):
                        status, body = answer.status, await answer.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"The {self.name} sign-in provider did not answer.") from exc
        if status == 200:
            try:
                return TokenAnswer.model_validate_json(body)
            except ValidationError as exc:
                raise SsoRefused(f"The {self.name} sign-in answered no id_token.") from exc
        return self._refusal(status, body)

    def _refusal(self, status: int, body: bytes) -> NoReturn:
        try:
            error = OAuthError.model_validate_json(body)
        except ValidationError:
            error = None
        log.warning(
            "sso_token_refused",
            provider=self.name,
            status=status,
            error=error.error if error else None,
            description=error.error_description if error else None,
        )
        if error is None or status >= 500 or status == 429:
            raise Unavailable(f"The {self.name} sign-in provider did not answer as expected.")
        if error.error in ("invalid_client", "unauthorized_client"):
            # Our credentials, not the person's sign-in: nothing they can do but wait.
            raise Unavailable(f"The {self.name} sign-in provider refuses our client.")
        raise SsoRefused(f"The {self.name} sign-in was refused ({error.error}).")

    async def _verify(
        self, keys: JwksKeys, tokens: TokenAnswer, nonce: str | None
    ) -> IdTokenClaims:
        client_id = self._settings.client_id
        try:
            decoded = await verified_claims(
                tokens.id_token,
                keys,
                issuer=self._settings.issuer,
                audience=client_id,
                now=self._clock(),
                access_token=tokens.access_token,
            )
        except InvalidJwt as exc:
            raise self._untrusted(str(exc)) from exc
        except KeysUnavailable as exc:
            raise Unavailable(f"The {self.name} sign-in provider's keys are unavailable.") from exc
        try:
            claims = IdTokenClaims.model_validate(decoded)
        except ValidationError as exc:
            raise self._untrusted(claim_errors(exc)) from exc
        audiences = [claims.aud] if isinstance(claims.aud, str) else claims.aud
        # OIDC Core 3.1.3.7: with other audiences beside us, azp must say the token is ours.
        if len(audiences) > 1 and claims.azp is None:
            raise self._untrusted("several audiences and no azp")
        if claims.azp is not None and claims.azp != client_id:
            raise self._untrusted("azp names another client")
        if nonce is not None and not hmac.compare_digest(
            (claims.nonce or "").encode(), nonce.encode()
        ):
            raise self._untrusted("the nonce is not the one sent")
        return claims

    def _untrusted(self, reason: str) -> SsoRefused:
        log.warning("sso_id_token_refused", provider=self.name, reason=reason)
        return SsoRefused(f"The {self.name} sign-in gave an id_token that is not valid: {reason}")
