"""HTTP routes of the emails service: the delivered emails, and contact sales."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, model_validator

from chassis.web.auth import readable_tenant
from chassis.web.openapi import Route
from chassis.web.parsing import Page, json_response, read_json, read_query
from contracts.emails import Name, Tag
from emails.domain import Email
from emails.repository import EmailQueries
from emails.service import EmailService


class EmailsQuery(Page):
    model_config = ConfigDict(extra="forbid")

    organization_id: str | None = Field(default=None, min_length=1, max_length=64)
    # Delivered at or after `from_utc`, before `to_utc`.
    from_utc: AwareDatetime | None = None
    to_utc: AwareDatetime | None = None
    tag: Tag | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.from_utc and self.to_utc and self.from_utc >= self.to_utc:
            raise ValueError("from_utc must be before to_utc")
        return self


class EmailOut(BaseModel):
    """An email as the log shows it: never its body, whose links carry single-use secrets."""

    id: str
    organization_id: str | None
    to: str
    template: str
    subject: str
    tags: list[str]
    requested_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, e: Email) -> EmailOut:
        return cls(
            id=e.id,
            organization_id=e.tenant_id,
            to=e.to,
            template=e.template,
            subject=e.subject,
            tags=list(e.tags),
            requested_at=e.requested_at,
            delivered_at=e.delivered_at,
        )


class ContactSales(BaseModel):
    # Blank is not an answer: a company or message of spaces only is refused.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: EmailStr = Field(max_length=254)
    company: Name
    size: str | None = Field(default=None, min_length=1, max_length=50)
    message: str = Field(min_length=1, max_length=5000)


class ContactRequestOut(BaseModel):
    id: str
    received_at: datetime


def routes(emails: EmailService, queries: EmailQueries) -> list[Route]:
    async def delivered(request: web.Request) -> web.Response:
        query = read_query(request, EmailsQuery)
        tenant = readable_tenant(request, query.organization_id)
        found = await queries.delivered(
            tenant, query.from_utc, query.to_utc, query.tag, query.limit, query.offset
        )
        return json_response([EmailOut.of(e) for e in found])

    async def contact_sales(request: web.Request) -> web.Response:
        body = await read_json(request, ContactSales)
        kept = await emails.contact_sales(body.email, body.company, body.size, body.message)
        return json_response(ContactRequestOut(id=kept.id, received_at=kept.received_at), 202)

    return [
        Route(
            "GET",
            "/emails",
            delivered,
            "Delivered emails, newest first: operators see every organization's (or the one "
            "named), an organization's owners their own's",
            query=EmailsQuery,
            response=list[EmailOut],
            errors=(403,),
        ),
        Route(
            "POST",
            "/contact-sales",
            contact_sales,
            "Ask the sales team to get in touch: the request is kept, the sales team is "
            "emailed, and so is a confirmation to the address given",
            body=ContactSales,
            response=ContactRequestOut,
            status=202,
            public=True,
        ),
    ]
