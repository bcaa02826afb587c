"""HTTP routes of invitations: invite a guest, resend, verify a token."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from chassis.web.auth import require_caller
from chassis.web.openapi import Route
from chassis.web.parsing import json_response, read_json
from identity.invitations.domain import Guest, Invitation
from identity.invitations.service import Invitations
from identity.tokens.api import OpaqueToken

Name = Annotated[str, Field(min_length=1, max_length=100)]


class GuestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    first_name: Name | None = None
    last_name: Name | None = None

    def guest(self) -> Guest:
        return Guest(str(self.email).lower(), self.first_name, self.last_name)


class InvitationToken(BaseModel):
    """The token in the body, never in the path: paths are logged, by us and any proxy."""

    model_config = ConfigDict(extra="forbid")

    token: OpaqueToken


class InvitationOut(BaseModel):
    """An invitation as its organization's owners see it; never its token."""

    id: str
    email: str
    organization_id: str
    expires_utc: datetime

    @classmethod
    def of(cls, invitation: Invitation) -> InvitationOut:
        return cls(
            id=invitation.id,
            email=invitation.email,
            organization_id=invitation.organization_id,
            expires_utc=invitation.expires_at,
        )


class InvitationVerified(BaseModel):
    email: str
    first_name: str | None
    last_name: str | None
    organization_name: str


def routes(invitations: Invitations) -> list[Route]:
    async def invite(request: web.Request) -> web.Response:
        body = await read_json(request, GuestIn)
        invitation = await invitations.invite(require_caller(request), body.guest())
        return json_response(InvitationOut.of(invitation), 201)

    async def resend(request: web.Request) -> web.Response:
        invitation = await invitations.resend(
            require_caller(request), request.match_info["invitation_id"]
        )
        return json_response(InvitationOut.of(invitation))

    async def verify(request: web.Request) -> web.Response:
        body = await read_json(request, InvitationToken)
        view = await invitations.verify(body.token)
        invitation = view.invitation
        return json_response(
            InvitationVerified(
                email=invitation.email,
                first_name=invitation.first_name,
                last_name=invitation.last_name,
                organization_name=view.organization_name,
            )
        )

    return [
        Route(
            "POST",
            "/invitations",
            invite,
            "Invite a guest by email into the organization the caller acts for (its owners); "
            "registering with the emailed token makes them a member",
            body=GuestIn,
            response=InvitationOut,
            status=201,
            errors=(403, 409),
        ),
        Route(
            "POST",
            "/invitations/{invitation_id:[0-9a-f]{32}}/resend",
            resend,
            "Email the invitation again with a new token (the old one is refused from now on) "
            "and a new expiry (owners of its organization)",
            response=InvitationOut,
            errors=(403, 404, 409),
        ),
        Route(
            "POST",
            "/invitations/verify",
            verify,
            "The invited address and names, and the organization, while the invitation can be "
            "accepted: 409 once accepted, 410 once expired",
            body=InvitationToken,
            response=InvitationVerified,
            errors=(404, 409, 410),
            public=True,
        ),
    ]
