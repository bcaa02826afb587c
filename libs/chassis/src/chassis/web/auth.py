"""Bearer JWT verification against a JWKS: RS256 only, keys cached, refreshed on a new kid;
every claim the platform relies on required and of its type."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol, Self
from urllib.parse import urlparse

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Middleware
from jose import JWTError, jwk, jwt
from jose.backends.base import Key
from jose.exceptions import JWKError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import AsyncRetrying

from chassis.config import WebSettings
from chassis.retry import outbound_retry
from chassis.web.problems import Handler, Problem
from contracts.roles import OrganizationRole, PlatformRole

ALGORITHMS = ["RS256"]
# An unknown kid may mean the issuer rotated keys; refetch, but not more often than this.
MIN_REFRESH_SECONDS = 10.0
# How far the issuer's clock and ours may disagree: the leeway on exp, nbf and iat.
CLOCK_SKEW_SECONDS = 30.0
# python-jose checks the signature, and aud, iss and sub, each of which it skips when the
# claim is absent unless told it is required. The times are checked by AccessClaims and
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


class AccessClaims(BaseModel):
    """The claims of an access token beyond those python-jose checks, with their types."""

    model_config = ConfigDict(strict=True, frozen=True)

    sub: str = Field(min_length=1)
    exp: NumericDate
    iat: NumericDate
    # Absent: valid since the epoch. Present, it must be a number like the others.
    nbf: NumericDate = 0.0
    tenant_id: Annotated[str, Field(min_length=1)] | None = None
    roles: list[str] = Field(default_factory=list)
    # The caller's roles in the tenant the token acts for.
    org_roles: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class Caller:
    user_id: str
    tenant_id: str | None
    roles: frozenset[str] = field(default_factory=frozenset)
    org_roles: frozenset[str] = field(default_factory=frozenset)

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def is_operator(self) -> bool:
        return PlatformRole.OPERATIONS in self.roles

    @property
    def owns_tenant(self) -> bool:
        return bool(self.tenant_id) and OrganizationRole.OWNER in self.org_roles


CALLER_KEY = web.RequestKey("caller", Caller)


class InvalidToken(Exception):
    pass


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Caller:
        """The caller the token stands for; InvalidToken when it stands for nobody."""
        ...


class JwksVerifier:
    def __init__(
        self,
        jwks_url: str,
        *,
        issuer: str,
        audience: str,
        cache_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
        fetch: Callable[[], Awaitable[dict[str, Any]]] | None = None,
        min_refresh_seconds: float = MIN_REFRESH_SECONDS,
    ) -> None:
        """`clock` is the time tokens are judged at, in seconds since the epoch; `fetch`
        reads the key set in process instead of from `jwks_url` (the issuer's own, which
        costs nothing to read again: `min_refresh_seconds` 0)."""
        self._url = jwks_url
        self._fetch_keys = fetch
        self._min_refresh = min_refresh_seconds
        self._issuer = issuer
        self._audience = audience
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._keys: dict[str, Key] = {}
        # Never fetched: monotonic time starts near zero at boot, so 0.0 could look recent.
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    @classmethod
    def of(cls, settings: WebSettings) -> Self:
        return cls(
            settings.jwks_url,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            cache_seconds=settings.jwks_cache_seconds,
        )

    async def verify(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
        except JWTError as exc:
            raise InvalidToken("malformed token") from exc
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken(f"algorithm {header.get('alg')!r} is not accepted")
        key = await self._key(str(header.get("kid", "")))
        try:
            decoded = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
                options=_JOSE_OPTIONS,
            )
        except JWTError as exc:
            raise InvalidToken(str(exc)) from exc
        try:
            claims = AccessClaims.model_validate(decoded)
        except ValidationError as exc:
            raise InvalidToken(_claim_errors(exc)) from exc
        _check_times(claims, self._clock())
        return Caller(
            claims.sub, claims.tenant_id, frozenset(claims.roles), frozenset(claims.org_roles)
        )

    async def _key(self, kid: str) -> Key:
        now = time.monotonic()
        stale = now - self._fetched_at > self._cache_seconds
        if stale or (kid not in self._keys and now - self._fetched_at >= self._min_refresh):
            async with self._lock:
                if time.monotonic() - self._fetched_at >= min(
                    self._min_refresh, self._cache_seconds
                ):
                    await self._refresh()
        if kid not in self._keys:
            raise InvalidToken("token signed by an unknown key")
        return self._keys[kid]

    async def _refresh(self) -> None:
        try:
            jwks = await self._fetch()
        except Exception as exc:
            # Keep serving known keys when the issuer is briefly unreachable.
            if not self._keys:
                raise InvalidToken(f"signing keys unavailable: {exc!r}") from exc
            return
        self._keys = _rsa_keys(jwks)
        self._fetched_at = time.monotonic()

    async def _fetch(self) -> dict[str, Any]:
        if self._fetch_keys is not None:
            return await self._fetch_keys()
        parsed = urlparse(self._url)
        if parsed.scheme == "file":
            text = await asyncio.to_thread(Path(parsed.path).read_text)
            data: dict[str, Any] = json.loads(text)
            return data
        async for attempt in AsyncRetrying(**outbound_retry()):
            with attempt:
                timeout = aiohttp.ClientTimeout(total=5)
                async with (
                    aiohttp.ClientSession(timeout=timeout) as http,
                    http.get(self._url) as response,
                ):
                    response.raise_for_status()
                    fetched: dict[str, Any] = await response.json()
                    return fetched
        raise AssertionError("unreachable: tenacity reraises")


def _claim_errors(exc: ValidationError) -> str:
    return "; ".join(
        f"claim {'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
        for error in exc.errors(include_url=False)
    )


def _check_times(claims: AccessClaims, now: float) -> None:
    if now >= claims.exp + CLOCK_SKEW_SECONDS:
        raise InvalidToken("the token has expired (exp)")
    if claims.nbf > now + CLOCK_SKEW_SECONDS:
        raise InvalidToken("the token is not yet valid (nbf)")
    if claims.iat > now + CLOCK_SKEW_SECONDS:
        raise InvalidToken("the token was issued in the future (iat)")


def _rsa_keys(jwks: Mapping[str, Any]) -> dict[str, Key]:
    """The set's RS256 keys by kid, each built once here rather than on every request."""
    keys: dict[str, Key] = {}
    for jwk_dict in jwks.get("keys", []):
        if "kid" not in jwk_dict or jwk_dict.get("kty") != "RSA":
            continue
        try:
            keys[jwk_dict["kid"]] = jwk.construct(jwk_dict, ALGORITHMS[0])
        except JWKError:
            continue
    return keys


def bearer_token(request: web.Request) -> str | None:
    value = request.headers.get("Authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "Use the Bearer scheme.", headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


# Sees every request once its caller is known (None: no token, or a refused one) and
# refuses it by raising, e.g. a Problem.
Admission = Callable[[web.Request, Caller | None], None]


def auth_middleware(verifier: TokenVerifier, admit: Admission | None = None) -> Middleware:
    """Verify any bearer token sent; a bad one is 401 even on routes that need none.

    `admit` runs first for every request, a bad token's included, so that sending one is
    no way around it (the gateway's rate limits).
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        caller, refusal = await _authenticate(request, verifier)
        if admit is not None:
            admit(request, caller)
        if refusal is not None:
            raise refusal
        if caller is not None:
            request[CALLER_KEY] = caller
        return await handler(request)

    return middleware


async def _authenticate(
    request: web.Request, verifier: TokenVerifier
) -> tuple[Caller | None, Problem | None]:
    """The caller the request's token stands for, or the problem refusing the token."""
    try:
        token = bearer_token(request)
    except Problem as refusal:
        return None, refusal
    if token is None:
        return None, None
    try:
        return await verifier.verify(token), None
    except InvalidToken as exc:
        return None, Problem(
            401,
            f"The access token is not valid: {exc}",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


def require_caller(request: web.Request) -> Caller:
    if CALLER_KEY not in request:
        raise Problem(
            401, "Sign in: this route needs a bearer token.", headers={"WWW-Authenticate": "Bearer"}
        )
    return request[CALLER_KEY]


def require_tenant(request: web.Request) -> tuple[Caller, str]:
    """The caller and the tenant they act for; 403 when the token names no tenant."""
    caller = require_caller(request)
    if not caller.tenant_id:
        raise Problem(403, "This route acts on a tenant's data; the token names no tenant.")
    return caller, caller.tenant_id


def readable_tenant(request: web.Request, organization_id: str | None = None) -> str | None:
    """Whose records a caller may read across users: an operator any organization's, or every
    one's (None); an organization's owner only their own (naming another is 403); anyone
    else nothing (403)."""
    caller = require_caller(request)
    if caller.is_operator:
        return organization_id
    if caller.owns_tenant and organization_id in (None, caller.tenant_id):
        return caller.tenant_id
    if caller.owns_tenant:
        raise Problem(403, "An organization's owner reads only their own organization's records.")
    raise Problem(403, "Only operators and the organization's owners may read these records.")
