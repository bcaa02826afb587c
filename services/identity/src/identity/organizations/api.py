"""HTTP routes of organizations: create, inspect, members."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from aiohttp import web
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    RootModel,
    SecretStr,
    model_validator,
)

from chassis.errors import NotFound
from chassis.web.auth import require_caller
from chassis.web.openapi import Route
from chassis.web.parsing import Page, json_response, read_json, read_query
from contracts.roles import OrganizationRole
from identity.credentials.api import PersonIn
from identity.invitations.api import InvitationOut
from identity.invitations.domain import Guest
from identity.invitations.service import Invitations
from identity.organizations.billing import Card
from identity.organizations.domain import MAX_NAME, CompanySize, Organization, OrganizationKind
from identity.organizations.repository import OrganizationQueries
from identity.organizations.service import OrganizationNotFound, OrganizationService
from identity.organizations.signup import Company, CompanySignup
from identity.users.api import UserOut
from identity.users.domain import EndUser
from identity.users.repository import UserQueries

ORGANIZATION = "/organizations/{organization_id:[0-9a-f]{32}}"
OrganizationName = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]


class BillingIn(BaseModel):
    """A card for the billing provider. Its number and security code are secrets: hidden
    from every repr and log line, and never stored (only brand, last four digits and
    expiry come back)."""

    model_config = ConfigDict(extra="forbid")

    card_holder_name: str = Field(min_length=1, max_length=200)
    card_number: SecretStr = Field(min_length=12, max_length=23)
    expiry_month: int = Field(ge=1, le=12)
    expiry_year: int = Field(ge=2000, le=2100)
    cvc: SecretStr = Field(min_length=3, max_length=4)
    # ISO 3166-1 alpha-2, e.g. GB.
    country: str = Field(pattern=r"^[A-Z]{2}$")
    postcode: str = Field(min_length=1, max_length=16)

    def card(self) -> Card:
        return Card(
            holder_name=self.card_holder_name,
            number=self.card_number.get_secret_value(),
            expiry_month=self.expiry_month,
            expiry_year=self.expiry_year,
            cvc=self.cvc.get_secret_value(),
            country=self.country,
            postcode=self.postcode,
        )


class NewOrganization(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: OrganizationName
    billing: BillingIn | None = None


class CompanyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: OrganizationName
    size: CompanySize | None = None
    website: HttpUrl | None = None


class Signup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company: CompanyIn
    admin: PersonIn
    billing: BillingIn


class BillingOut(BaseModel):
    provider: str
    card_brand: str
    card_last4: str
    card_expiry: str


class OrganizationOut(BaseModel):
    id: str
    name: str
    kind: OrganizationKind
    created_by: str
    created_at: datetime
    provisioned: bool
    size: CompanySize | None
    website: str | None
    # The card on file, shown to the organization's billing admins only.
    billing: BillingOut | None = None

    @classmethod
    def of(cls, organization: Organization, *, with_billing: bool = True) -> OrganizationOut:
        billing = organization.billing if with_billing else None
        return cls(
            id=organization.id,
            name=organization.name,
            kind=organization.kind,
            created_by=organization.created_by,
            created_at=organization.created_at,
            provisioned=organization.provisioned_at is not None,
            size=organization.size,
            website=organization.website,
            billing=None
            if billing is None
            else BillingOut(
                provider=billing.provider,
                card_brand=billing.card_brand,
                card_last4=billing.card_last4,
                card_expiry=billing.card_expiry,
            ),
        )


class SignedUpOut(BaseModel):
    admin: UserOut
    organization: OrganizationOut


class NewMember(BaseModel):
    """A registered person by id, or anyone by address (a registered one joins at once,
    any other is invited): exactly one of the two."""

    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    email: EmailStr | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of user_id and email")
        return self


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


class MemberAdded(RootModel[MemberOut | InvitationOut]):
    """The member who joined (201), or the invitation sent to the address (202)."""


def routes(
    organizations: OrganizationService,
    queries: OrganizationQueries,
    users: UserQueries,
    invitations: Invitations,
    signup: CompanySignup,
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
        organization = await organizations.create(
            require_caller(request), body.name, body.billing.card() if body.billing else None
        )
        return json_response(
            OrganizationOut.of(organization),
            201,
            headers={"Location": f"/organizations/{organization.id}"},
        )

    async def inspect(request: web.Request) -> web.Response:
        organization_id = await member_of(request)
        organization = await queries.organization(organization_id)
        if organization is None:
            raise NotFound("there is no such organization")
        caller = require_caller(request)
        user = await users.user(caller.user_id)
        billing_admin = user is not None and OrganizationRole.BILLING_ADMIN in user.roles_in(
            organization_id
        )
        return json_response(
            OrganizationOut.of(organization, with_billing=billing_admin or caller.is_operator)
        )

    async def add_member(request: web.Request) -> web.Response:
        body = await read_json(request, NewMember)
        caller = require_caller(request)
        organization_id = request.match_info["organization_id"]
        if body.user_id is not None:
            member = await organizations.add_member(caller, organization_id, body.user_id)
            return json_response(MemberOut.of(member, organization_id), 201)
        assert body.email is not None
        added = await invitations.add_or_invite(
            caller, organization_id, Guest(str(body.email).lower())
        )
        if isinstance(added, EndUser):
            return json_response(MemberOut.of(added, organization_id), 201)
        return json_response(InvitationOut.of(added), 202)

    async def sign_up(request: web.Request) -> web.Response:
        body = await read_json(request, Signup)
        admin = body.admin
        signed_up = await signup.sign_up(
            Company(
                body.company.name,
                body.company.size,
                str(body.company.website) if body.company.website else None,
            ),
            admin.new_person(),
            body.billing.card(),
        )
        organization = signed_up.organization
        return json_response(
            SignedUpOut(
                admin=UserOut.of(signed_up.admin), organization=OrganizationOut.of(organization)
            ),
            201,
            headers={"Location": f"/organizations/{organization.id}"},
        )

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
            "Create a shared organization; the caller becomes its owner, billing admin and "
            "member. With `billing`, the card is kept by the billing provider (422 when it "
            "refuses it, and nothing is stored)",
            body=NewOrganization,
            response=OrganizationOut,
            status=201,
        ),
        Route(
            "POST",
            "/organizations/signup",
            sign_up,
            "A company signs up: its admin is registered (unconfirmed until the emailed token "
            "comes back) and owns the company's organization, whose card the billing provider "
            "keeps; a refused card stores nothing",
            body=Signup,
            response=SignedUpOut,
            status=201,
            errors=(409,),
            public=True,
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
            "Add a member by user id or by email (the organization's owners): a registered "
            "person joins at once (201), any other address is invited (202)",
            body=NewMember,
            response=MemberAdded,
            status=201,
            other_statuses=(202,),
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
