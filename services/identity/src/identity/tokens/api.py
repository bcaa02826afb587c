"""HTTP routes of tokens: refresh, revoke, the JWKS, and signing-key rotation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chassis.clock import Clock, utc_now
from chassis.errors import NotAllowed
from chassis.web.auth import require_caller
from chassis.web.openapi import Route
from chassis.web.parsing import json_response, read_json
from identity.tokens.service import Session, SigningKeys, TokenService

# Opaque secrets are URL-safe base64 with a short prefix; nothing longer is ever valid.
OpaqueToken = Annotated[str, Field(min_length=16, max_length=200, pattern=r"^[A-Za-z0-9_\-]+$")]


class TokensOut(BaseModel):
    token_type: str = "Bearer"
    access_token: str
    access_token_expires_utc: datetime
    refresh_token: str
    refresh_token_expires_utc: datetime
    user_id: str

    @classmethod
    def of(cls, session: Session) -> TokensOut:
        return cls(
            access_token=session.access.token,
            access_token_expires_utc=session.access.expires_at,
            refresh_token=session.refresh_token,
            refresh_token_expires_utc=session.refresh_expires_at,
            user_id=session.user_id,
        )


class RefreshTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: OpaqueToken


class Jwks(BaseModel):
    keys: list[dict[str, str]]


class RotatedKey(BaseModel):
    kid: str
    created_at: datetime


def routes(tokens: TokenService, keys: SigningKeys, clock: Clock = utc_now) -> list[Route]:
    async def refresh(request: web.Request) -> web.Response:
        body = await read_json(request, RefreshTokenIn)
        return json_response(TokensOut.of(await tokens.refresh(body.refresh_token)))

    async def revoke(request: web.Request) -> web.Response:
        body = await read_json(request, RefreshTokenIn)
        await tokens.revoke(body.refresh_token)
        return web.Response(status=204)

    async def jwks(request: web.Request) -> web.Response:
        return json_response(
            keys.keyring.jwks(clock()),
            # Verifiers refetch on an unknown kid anyway; a short cache spares the rest.
            headers={"Cache-Control": "public, max-age=60"},
        )

    async def rotate(request: web.Request) -> web.Response:
        caller = require_caller(request)
        if not caller.is_operator:
            raise NotAllowed("only operators rotate the signing keys")
        key = await keys.rotate(caller.user_id)
        return json_response(RotatedKey(kid=key.kid, created_at=key.created_at), 201)

    return [
        Route(
            "POST",
            "/tokens/refresh",
            refresh,
            "New tokens for a refresh token, which is spent; a spent one presented again "
            "revokes every token of its login",
            body=RefreshTokenIn,
            response=TokensOut,
            errors=(401,),
            public=True,
        ),
        Route(
            "POST",
            "/tokens/revoke",
            revoke,
            "End the login a refresh token belongs to (log out)",
            body=RefreshTokenIn,
            status=204,
            public=True,
        ),
        Route(
            "GET",
            "/.well-known/jwks.json",
            jwks,
            "The public keys that verify access tokens: the active one, and the retired "
            "ones until every token they signed has expired",
            response=Jwks,
            public=True,
        ),
        Route(
            "POST",
            "/signing-keys/rotate",
            rotate,
            "Start signing with a new key (operators)",
            response=RotatedKey,
            status=201,
            errors=(403,),
        ),
    ]
