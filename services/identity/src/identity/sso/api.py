"""HTTP routes of single sign-on."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chassis.web.openapi import Route
from chassis.web.parsing import json_response, read_json
from identity.sso.service import AuthorizationCode, SsoService
from identity.tokens.api import OpaqueToken, TokensOut


class SsoSignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(min_length=1, max_length=40)
    auth_code: str = Field(min_length=1, max_length=2000)
    # PKCE (RFC 7636): 43 to 128 unreserved characters.
    code_verifier: str = Field(pattern=r"^[A-Za-z0-9\-._~]{43,128}$")
    # Exactly the one the authorization request named: the provider checks they match.
    redirect_uri: str = Field(pattern=r"^https?://", max_length=2000)
    invitation_token: OpaqueToken | None = None


class Providers(BaseModel):
    providers: list[str]


def routes(sso: SsoService) -> list[Route]:
    async def authenticate(request: web.Request) -> web.Response:
        body = await read_json(request, SsoSignIn)
        session = await sso.authenticate(
            AuthorizationCode(
                body.provider,
                body.auth_code,
                body.code_verifier,
                body.redirect_uri,
                body.invitation_token,
            )
        )
        return json_response(TokensOut.of(session))

    async def providers(request: web.Request) -> web.Response:
        return json_response(Providers(providers=sso.providers))

    return [
        Route(
            "POST",
            "/sso/auth",
            authenticate,
            "Sign in with an authorization code from a provider (PKCE); the first sign-in "
            "registers the person",
            body=SsoSignIn,
            response=TokensOut,
            errors=(404, 409, 410, 503),
            public=True,
        ),
        Route(
            "GET",
            "/sso/providers",
            providers,
            "The providers one can sign in with",
            response=Providers,
            public=True,
        ),
    ]
