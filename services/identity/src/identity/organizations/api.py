"""HTTP routes of organizations: create, inspect, members."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chassis.errors import NotFound
from chassis.web.auth import require_caller
from chassis.web.openapi import Route
from chassis.web.parsing import Page, json_response, read_json, read_query
from identity.organizations.domain import MAX_NAME, Organization, OrganizationKind
from identity.organizations.repository import OrganizationQueries
from identity.organizations.service import OrganizationNotFound, OrganizationService
from identity.users.domain import EndUser
from identity.users.repository import UserQueries

ORGANIZATION = "/organizations/{organization_id:[0-9a-f]{32}}"


class NewOrganization(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME)


class OrganizationOut(BaseModel):
    id: str
    name: str
    kind: OrganizationKind
    created_by: str
    created_at: datetime
    provisioned: bool

    @classmethod
    def of(cls, organization: Organization) -> OrganizationOut:
        return cls(
            id=organization.id,
            name=organization.name,
            kind=organization.kind,
            created_by=organization.created_by,
            created_at=organization.created_at,
            provisioned=organization.provisioned_at is not None,
        )


class NewMember(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(pattern=r"^[0-9a-f]{32}$")


class MemberOut(BaseModel):
    user_id: str
    first_name: str | None
    last_name: str | None
    email: str | None
    roles: list[str]

    @classmethod
    def of(cls, user: EndUser, organization_id: str) -> MemberOut:
        return cls(
            user_id=user.id,
            first_name=user.first_name,
            last_name=user.last_name,
            email=user.email,
            roles=sorted(user.roles_in(organization_id)),
        )


def routes(
    organizations: OrganizationService, queries: OrganizationQueries, users: UserQueries
) -> list[Route]:
    async def member_of(request: web.Request) -> str:
        """The organization of the path, which the caller must be a member of; to anyone
        else it does not exist."""
        caller = require_caller(request)
        organization_id = request.match_info["organization_id"]
        user = await users.user(caller.user_id)
        if (user is None or not user.is_member(organization_id)) and not caller.is_operator:
            raise OrganizationNotFound(f"there is no organization {organization_id}")
        return organization_id

    async def create(request: web.Request) -> web.Response:
        body = await read_json(request, NewOrganization)
        organization = await organizations.create(require_caller(request), body.name)
        return json_response(
            OrganizationOut.of(organization),
            201,
            headers={"Location": f"/organizations/{organization.id}"},
        )

    async def inspect(request: web.Request) -> web.Response:
        organization = await queries.organization(await member_of(request))
        if organization is None:
            raise NotFound("there is no such organization")
        return json_response(OrganizationOut.of(organization))

    async def add_member(request: web.Request) -> web.Response:
        body = await read_json(request, NewMember)
        member = await organizations.add_member(
            require_caller(request), request.match_info["organization_id"], body.user_id
        )
        organization_id = request.match_info["organization_id"]
        return json_response(MemberOut.of(member, organization_id), 201)

    async def members(request: web.Request) -> web.Response:
        organization_id = await member_of(request)
        page = read_query(request, Page)
        found = await users.members(organization_id, page.limit, page.offset)
        return json_response([MemberOut.of(u, organization_id) for u in found])

    return [
        Route(
            "POST",
            "/organizations",
            create,
            "Create a shared organization; the caller becomes its owner",
            body=NewOrganization,
            response=OrganizationOut,
            status=201,
        ),
        Route(
            "GET",
            ORGANIZATION,
            inspect,
            "An organization the caller is a member of",
            response=OrganizationOut,
            errors=(404,),
        ),
        Route(
            "POST",
            ORGANIZATION + "/members",
            add_member,
            "Add a registered user as a member (the organization's owners)",
            body=NewMember,
            response=MemberOut,
            status=201,
            errors=(403, 404, 409),
        ),
        Route(
            "GET",
            ORGANIZATION + "/members",
            members,
            "The organization's members and their roles (members only)",
            query=Page,
            response=list[MemberOut],
            errors=(404,),
        ),
    ]
