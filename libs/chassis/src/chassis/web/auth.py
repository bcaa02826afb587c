"""Bearer JWT verification against a JWKS (chassis.jwks: RS256 only, keys cached, refreshed
on a new kid); every claim the platform relies on required and of its type."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, Self

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chassis.config import WebSettings
from chassis.jwks import (
    MIN_REFRESH_SECONDS,
    InvalidJwt,
    JwksKeys,
    KeysUnavailable,
    claim_errors,
    verified_claims,
)
from chassis.web.problems import Handler, Problem
from contracts.roles import OrganizationRole, PlatformRole


class AccessClaims(BaseModel):
    """The claims of an access token beyond the registered ones, with their types."""

    model_config = ConfigDict(strict=True, frozen=True)

    sub: str = Field(min_length=1)
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


# Reads a JWKS document in process.
KeySet = Callable[[], Awaitable[dict[str, Any]]]


class JwksVerifier:
    def __init__(
        self,
        jwks_url: str,
        *,
        issuer: str,
        audience: str,
        cache_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
        fetch: KeySet | None = None,
        min_refresh_seconds: float = MIN_REFRESH_SECONDS,
    ) -> None:
        """`clock` is the time tokens are judged at, in seconds since the epoch; `fetch`
        reads the key set in process instead of from `jwks_url` (the issuer's own, which
        costs nothing to read again: `min_refresh_seconds` 0)."""
        self._jwks = JwksKeys(
            jwks_url,
            cache_seconds=cache_seconds,
            min_refresh_seconds=min_refresh_seconds,
            fetch=fetch,
        )
        self._issuer = issuer
        self._audience = audience
        self._clock = clock

    @classmethod
    def of(cls, settings: WebSettings, own_keys: KeySet | None = None) -> Self:
        """From the settings; `own_keys`: the issuer verifying its own tokens reads its key
        set in process, where reading it again costs nothing."""
        return cls(
            settings.jwks_url,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            cache_seconds=settings.jwks_cache_seconds,
            fetch=own_keys,
            min_refresh_seconds=MIN_REFRESH_SECONDS if own_keys is None else 0,
        )

    async def verify(self, token: str) -> Caller:
        try:
            decoded = await verified_claims(
                token,
                self._jwks,
                issuer=self._issuer,
                audience=self._audience,
                now=self._clock(),
            )
        except (InvalidJwt, KeysUnavailable) as exc:
            raise InvalidToken(str(exc)) from exc
        try:
            claims = AccessClaims.model_validate(decoded)
        except ValidationError as exc:
            raise InvalidToken(claim_errors(exc)) from exc
        return Caller(
            claims.sub, claims.tenant_id, frozenset(claims.roles), frozenset(claims.org_roles)
        )


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
