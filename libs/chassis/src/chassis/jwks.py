"""Tokens signed with the RS256 keys their issuer publishes as a JWKS (RFC 7517): the keys
fetched and cached, the signature and the registered claims checked, once for whoever
verifies such tokens: our own access tokens (chassis.web.auth) as much as a single sign-on
provider's id_tokens (identity's sso)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

import aiohttp
from jose import JWTError, jwk, jwt
from jose.backends.base import Key
from jose.exceptions import JWKError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import AsyncRetrying

from chassis.retry import outbound_retry

ALGORITHM = "RS256"
# How far the issuer's clock and ours may disagree: the leeway on exp, nbf and iat.
CLOCK_SKEW_SECONDS = 30.0
# An unknown kid may mean the issuer rotated keys; refetch, but not more often than this.
MIN_REFRESH_SECONDS = 10.0
FETCH_TIMEOUT_SECONDS = 5.0


class InvalidJwt(Exception):
    """The token is not one the issuer signed for us, now; the message says why."""


class UnknownKey(InvalidJwt):
    """The token names a key the issuer does not publish (or not yet, as far as we know)."""


class KeysUnavailable(Exception):
    """No key is known and the issuer's JWKS could not be fetched."""


async def fetch_json(url: str, timeout: float = FETCH_TIMEOUT_SECONDS) -> dict[str, Any]:
    """A JSON object from `url` (file:// read from disk), an HTTP fetch retried by the
    outbound policy: a JWKS or a discovery document, which are safe to ask for twice."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        text = await asyncio.to_thread(Path(parsed.path).read_text)
        return _object(json.loads(text), url)
    async for attempt in AsyncRetrying(**outbound_retry()):
        with attempt:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
                http.get(url) as response,
            ):
                response.raise_for_status()
                return _object(await response.json(content_type=None), url)
    raise AssertionError("unreachable: tenacity reraises")


def _object(data: object, url: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{url} did not answer a JSON object")
    return data


# python-jose checks the signature, and aud, iss and sub, each of which it skips when the
# claim is absent unless told it is required. The times are checked by RegisteredClaims and
# `_check_times` instead: jose lets the TypeError of `int(None)` escape, and has no check of
# an iat in the future.
_JOSE_OPTIONS = {
    "require_aud": True,
    "require_iss": True,
    "require_sub": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
}

# RFC 7519: seconds since the epoch, integer or not; never a string, a boolean or infinite.
NumericDate = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class RegisteredClaims(BaseModel):
    """The registered claims every token we accept carries, with their types."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    sub: str = Field(min_length=1)
    exp: NumericDate
    iat: NumericDate
    # Absent: valid since the epoch. Present, it must be a number like the others.
    nbf: NumericDate = 0.0


async def verified_claims(
    token: str,
    keys: JwksKeys,
    *,
    issuer: str,
    audience: str,
    now: float,
    access_token: str | None = None,
) -> dict[str, Any]:
    """The claims of `token` once it is known to be RS256-signed by one of `keys`, from
    `issuer`, for `audience` (or an audience list naming it), valid at `now` (seconds since
    the epoch), with sub, exp and iat; InvalidJwt saying why not, KeysUnavailable when the
    keys cannot be had. An id_token's `at_hash`, when it has one, must be that of
    `access_token`, the access token it came with."""
    try:
        header = jwt.get_unverified_header(token)
    except JWTError as exc:
        raise InvalidJwt("malformed token") from exc
    # Only RS256 ever reaches jose: no `none`, no HMAC keyed with a public key.
    if header.get("alg") != ALGORITHM:
        raise InvalidJwt(f"algorithm {header.get('alg')!r} is not accepted")
    key = await keys.key(str(header.get("kid", "")))
    try:
        decoded: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            access_token=access_token,
            options=_JOSE_OPTIONS,
        )
    except JWTError as exc:
        raise InvalidJwt(str(exc)) from exc
    try:
        claims = RegisteredClaims.model_validate(decoded)
    except ValidationError as exc:
        raise InvalidJwt(claim_errors(exc)) from exc
    _check_times(claims, now)
    return decoded


def claim_errors(exc: ValidationError) -> str:
    return "; ".join(
        f"claim {'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
        for error in exc.errors(include_url=False)
    )


def _check_times(claims: RegisteredClaims, now: float) -> None:
    if now >= claims.exp + CLOCK_SKEW_SECONDS:
        raise InvalidJwt("the token has expired (exp)")
    if claims.nbf > now + CLOCK_SKEW_SECONDS:
        raise InvalidJwt("the token is not yet valid (nbf)")
    if claims.iat > now + CLOCK_SKEW_SECONDS:
        raise InvalidJwt("the token was issued in the future (iat)")


class JwksKeys:
    """An issuer's keys by kid, each built once: fetched when first needed, again once
    `cache_seconds` old, and on an unknown kid at most every `min_refresh_seconds`. Known
    keys keep serving while the issuer is briefly unreachable. `fetch`, when given, reads
    the set in process instead of from `url`."""

    def __init__(
        self,
        url: str,
        *,
        cache_seconds: float = 300.0,
        min_refresh_seconds: float = MIN_REFRESH_SECONDS,
        fetch: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    ) -> None:
        self.url = url
        self._fetch_keys = fetch
        self._cache_seconds = cache_seconds
        self._min_refresh_seconds = min_refresh_seconds
        self._keys: dict[str, Key] = {}
        # Never fetched: monotonic time starts near zero at boot, so 0.0 could look recent.
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> Key:
        """The key named `kid`; UnknownKey or KeysUnavailable when there is none."""
        now = time.monotonic()
        since = now - self._fetched_at
        stale = since > self._cache_seconds
        if stale or (kid not in self._keys and since >= self._min_refresh_seconds):
            async with self._lock:
                # Whoever held the lock may have just fetched.
                if time.monotonic() - self._fetched_at >= min(
                    self._min_refresh_seconds, self._cache_seconds
                ):
                    await self._refresh()
        if kid not in self._keys:
            raise UnknownKey("token signed by an unknown key")
        return self._keys[kid]

    async def _refresh(self) -> None:
        try:
            jwks = await self._fetch()
        except Exception as exc:
            if not self._keys:
                raise KeysUnavailable(f"signing keys unavailable: {exc!r}") from exc
            return
        self._keys = rsa_keys(jwks)
        self._fetched_at = time.monotonic()

    async def _fetch(self) -> dict[str, Any]:
        if self._fetch_keys is not None:
            return await self._fetch_keys()
        return await fetch_json(self.url)


def rsa_keys(jwks: Mapping[str, Any]) -> dict[str, Key]:
    """The set's RS256 keys by kid; entries without a kid, of another type or malformed are
    left out."""
    keys: dict[str, Key] = {}
    for jwk_dict in jwks.get("keys", []):
        if not isinstance(jwk_dict, dict) or "kid" not in jwk_dict:
            continue
        if jwk_dict.get("kty") != "RSA" or jwk_dict.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            keys[str(jwk_dict["kid"])] = jwk.construct(jwk_dict, ALGORITHM)
        # jose lets a ValueError out of a modulus that is not base64url.
        except (JWKError, ValueError):
            continue
    return keys
