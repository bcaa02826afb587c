"""HTTP routes of end users: who the caller is, platform roles, the default organization."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chassis.errors import NotFound
from chassis.web.auth import require_caller
from chassis.web.openapi import Route
from chassis.web.parsing import json_response, read_json
from contracts.roles import PlatformRole
from identity.users.domain import EndUser, UserKind
from identity.users.repository import UserQueries
from identity.users.service import UserService

USER = "/users/{user_id:[0-9a-f]{32}}"


class MembershipOut(BaseModel):
    organization_id: str
    roles: list[str]


class UserOut(BaseModel):
    id: str
    kind: UserKind
    email: str | None
    first_name: str | None
    last_name: str | None
    timezone: str | None
    roles: list[str]
    default_organization_id: str
    memberships: list[MembershipOut]
    registered_at: datetime

    @classmethod
    def of(cls, user: EndUser) -> UserOut:
        return cls(
            id=user.id,
            kind=user.kind,
            email=user.email,
            first_name=user.first_name,
            last_name=user.last_name,
            timezone=user.timezone,
            roles=sorted(user.roles),
            default_organization_id=user.default_organization_id,
            memberships=[
                MembershipOut(organization_id=m.organization_id, roles=sorted(m.roles))
                for m in user.memberships
            ],
            registered_at=user.registered_at,
        )


class Roles(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[PlatformRole] = Field(min_length=1, max_length=10)


class DefaultOrganization(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organization_id: str = Field(pattern=r"^[0-9a-f]{32}$")


def routes(users: UserService, queries: UserQueries) -> list[Route]:
    async def me(request: web.Request) -> web.Response:
        caller = require_caller(request)
        user = await queries.user(caller.user_id)
        if user is None:
            raise NotFound("the token's user is not registered")
        return json_response(UserOut.of(user))

    async def assign(request: web.Request) -> web.Response:
        body = await read_json(request, Roles)
        user = await users.assign(
            require_caller(request), request.match_info["user_id"], body.roles
        )
        return json_response(UserOut.of(user))

    async def unassign(request: web.Request) -> web.Response:
        body = await read_json(request, Roles)
        user = await users.unassign(
            require_caller(request), request.match_info["user_id"], body.roles
        )
        return json_response(UserOut.of(user))

    async def default_organization(request: web.Request) -> web.Response:
        body = await read_json(request, DefaultOrganization)
        user = await users.choose_default_organization(
            require_caller(request), body.organization_id
        )
        return json_response(UserOut.of(user))

    return [
        Route("GET", "/users/me", me, "The caller", response=UserOut, errors=(404,)),
        Route(
            "PUT",
            "/users/me/default-organization",
            default_organization,
            "The organization the caller's tokens act for, from the next refresh on",
            body=DefaultOrganization,
            response=UserOut,
            errors=(404,),
        ),
        Route(
            "POST",
            USER + "/roles/assign",
            assign,
            "Give a user platform roles (operators)",
            body=Roles,
            response=UserOut,
            errors=(403, 404),
        ),
        Route(
            "POST",
            USER + "/roles/unassign",
            unassign,
            "Take platform roles from a user (operators); `standard` stays",
            body=Roles,
            response=UserOut,
            errors=(403, 404),
        ),
    ]
