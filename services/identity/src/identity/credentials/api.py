"""HTTP routes of password credentials: register, confirm, log in, reset the password."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, EmailStr, Field, SecretStr

from chassis.web.openapi import Route
from chassis.web.parsing import json_response, read_json
from identity.credentials.domain import MAX_LENGTH
from identity.credentials.service import CredentialService, NewPerson
from identity.tokens.api import OpaqueToken, TokensOut
from identity.users.api import UserOut

Name = Annotated[str, Field(min_length=1, max_length=100)]
# The policy's rules beyond the length are the domain's (422 with the reason).
Password = Annotated[SecretStr, Field(min_length=1, max_length=MAX_LENGTH)]


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: Password
    first_name: Name
    last_name: Name
    # An IANA name, e.g. Europe/Paris.
    timezone: str | None = Field(default=None, max_length=64)

    def new_person(self) -> NewPerson:
        return NewPerson(
            email=str(self.email),
            password=self.password.get_secret_value(),
            first_name=self.first_name,
            last_name=self.last_name,
            timezone=self.timezone,
        )


class Registration(PersonIn):
    # From an invitation's email: the person joins the inviting organization too.
    invitation_token: OpaqueToken | None = None


class Token(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: OpaqueToken


class Confirmed(BaseModel):
    user_id: str


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: EmailStr
    password: Password


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr


class ResetToken(BaseModel):
    email: str


class ResetCompletion(Token):
    password: Password


def routes(credentials: CredentialService) -> list[Route]:
    async def register(request: web.Request) -> web.Response:
        body = await read_json(request, Registration)
        user = await credentials.register(body.new_person(), body.invitation_token)
        return json_response(UserOut.of(user), 201)

    async def confirm(request: web.Request) -> web.Response:
        body = await read_json(request, Token)
        return json_response(Confirmed(user_id=await credentials.confirm(body.token)))

    async def authenticate(request: web.Request) -> web.Response:
        body = await read_json(request, Login)
        session = await credentials.authenticate(
            str(body.username), body.password.get_secret_value()
        )
        return json_response(TokensOut.of(session))

    async def request_reset(request: web.Request) -> web.Response:
        body = await read_json(request, ResetRequest)
        await credentials.request_reset(str(body.email))
        return web.Response(status=202)

    async def verify_reset(request: web.Request) -> web.Response:
        body = await read_json(request, Token)
        return json_response(ResetToken(email=await credentials.verify_reset(body.token)))

    async def complete_reset(request: web.Request) -> web.Response:
        body = await read_json(request, ResetCompletion)
        await credentials.complete_reset(body.token, body.password.get_secret_value())
        return web.Response(status=204)

    return [
        Route(
            "POST",
            "/credentials/register",
            register,
            "Register a person with a password; they confirm their address from the email "
            "sent before they can log in. With an invitation's token they join the inviting "
            "organization, and the invited address is confirmed at once",
            body=Registration,
            response=UserOut,
            status=201,
            errors=(404, 409, 410),
            public=True,
        ),
        Route(
            "POST",
            "/credentials/confirm-registration",
            confirm,
            "Confirm a registration with the token emailed",
            body=Token,
            response=Confirmed,
            errors=(410,),
            public=True,
        ),
        Route(
            "POST",
            "/credentials/auth",
            authenticate,
            "Log in with email and password; the fifth wrong password in a row locks the "
            "account for ten minutes (423)",
            body=Login,
            response=TokensOut,
            errors=(403, 423),
            public=True,
        ),
        Route(
            "POST",
            "/credentials/reset",
            request_reset,
            "Email a password reset link to the address, if it is registered (always 202)",
            body=ResetRequest,
            status=202,
            public=True,
        ),
        Route(
            "POST",
            "/credentials/reset/verify",
            verify_reset,
            "The address a reset token was sent to, while it is valid",
            body=Token,
            response=ResetToken,
            errors=(410,),
            public=True,
        ),
        Route(
            "POST",
            "/credentials/reset/complete",
            complete_reset,
            "Set a new password with a reset token; every login so far is revoked",
            body=ResetCompletion,
            status=204,
            errors=(410,),
            public=True,
        ),
    ]
