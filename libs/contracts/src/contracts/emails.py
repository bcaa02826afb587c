"""Asking for an email: any service publishes `EmailRequested`; the emails service renders it
from its template and delivers it. The message names its template and carries exactly the
values that template shows, so a producer never writes text or HTML itself."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from contracts.envelope import IntegrationEvent

Name = Annotated[str, Field(min_length=1, max_length=200)]
# A single-use secret the email's link carries back (confirmation, invitation, reset).
LinkToken = Annotated[str, Field(min_length=16, max_length=200, pattern=r"^[A-Za-z0-9_\-]+$")]
Tag = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9_\-]*$")]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegistrationConfirmation(_Message):
    template: Literal["registration_confirmation"] = "registration_confirmation"
    first_name: Name
    token: LinkToken


class Invitation(_Message):
    template: Literal["invitation"] = "invitation"
    inviter_name: Name
    organization_name: Name
    token: LinkToken


class PasswordReset(_Message):
    template: Literal["password_reset"] = "password_reset"
    first_name: Name
    token: LinkToken


class ContactSalesLead(_Message):
    """To the sales team: a prospect asked to be contacted."""

    template: Literal["contact_sales_lead"] = "contact_sales_lead"
    email: EmailStr
    company: Name
    size: str | None = Field(default=None, max_length=50)
    message: str = Field(min_length=1, max_length=5000)


class ContactSalesConfirmation(_Message):
    """To the prospect: we heard you."""

    template: Literal["contact_sales_confirmation"] = "contact_sales_confirmation"
    company: Name


class ListCompleted(_Message):
    template: Literal["list_completed"] = "list_completed"
    list_id: str = Field(min_length=1)
    list_name: Name
    rows_total: int = Field(ge=0)
    rows_failed: int = Field(ge=0)


class ListFailed(_Message):
    template: Literal["list_failed"] = "list_failed"
    list_id: str = Field(min_length=1)
    list_name: Name
    reason: str = Field(min_length=1, max_length=1000)


EmailMessage = Annotated[
    RegistrationConfirmation
    | Invitation
    | PasswordReset
    | ContactSalesLead
    | ContactSalesConfirmation
    | ListCompleted
    | ListFailed,
    Field(discriminator="template"),
]


class EmailRequested(IntegrationEvent):
    """Send `message` to `to`, once. Published by any service (hence `platform.`); the
    envelope's id identifies the email, so a redelivered request sends nothing more, and its
    tenant decides which organization's owners see the email in `GET /emails`."""

    event_type: ClassVar[str] = "platform.email_requested"

    to: EmailStr
    to_name: str | None = Field(default=None, max_length=200)
    message: EmailMessage
    tags: list[Tag] = Field(default_factory=list, max_length=10)
