"""Identity's events: people and machines registering, invitations, organizations, password
resets. Secrets (confirmation, invitation and reset tokens) never travel in these events,
which any service may read; the one email that carries a token is an `EmailRequested`."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, EmailStr, Field

from contracts.envelope import IntegrationEvent, TenantEvent
from contracts.roles import OrganizationRole, PlatformRole


class UserKind(StrEnum):
    PERSON = "person"
    MACHINE = "machine"


class UserRegistered(IntegrationEvent):
    """An end user exists: a person (unconfirmed until the emailed token comes back) or a
    machine. Its envelope names the user's default organization when it has one."""

    event_type: ClassVar[str] = "identity.user_registered"

    user_id: str = Field(min_length=1)
    kind: UserKind
    email: EmailStr | None = None
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    timezone: str | None = Field(default=None, max_length=64)


class RegistrationConfirmationRequested(IntegrationEvent):
    event_type: ClassVar[str] = "identity.registration_confirmation_requested"

    user_id: str = Field(min_length=1)
    email: EmailStr
    expires_utc: AwareDatetime


class PasswordResetRequested(IntegrationEvent):
    event_type: ClassVar[str] = "identity.password_reset_requested"

    user_id: str = Field(min_length=1)
    email: EmailStr
    expires_utc: AwareDatetime


class GuestInvited(TenantEvent):
    """Someone was invited to join the organization the envelope names."""

    event_type: ClassVar[str] = "identity.guest_invited"

    invitation_id: str = Field(min_length=1)
    email: EmailStr
    invited_by: str = Field(min_length=1)
    expires_utc: AwareDatetime


class MembershipAdded(TenantEvent):
    """A user joined the organization the envelope names, with these roles in it."""

    event_type: ClassVar[str] = "identity.membership_added"

    organization_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    roles: list[OrganizationRole] = Field(min_length=1)


class RolesChanged(IntegrationEvent):
    """A user's platform roles are now `roles`."""

    event_type: ClassVar[str] = "identity.roles_changed"

    user_id: str = Field(min_length=1)
    roles: list[PlatformRole] = Field(min_length=1)
    assigned: list[PlatformRole] = Field(default_factory=list)
    unassigned: list[PlatformRole] = Field(default_factory=list)


class OrganizationCreated(TenantEvent):
    """A new tenant: the envelope's tenant is the organization itself."""

    event_type: ClassVar[str] = "identity.organization_created"

    organization_id: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=200)
    created_by: str = Field(min_length=1)


class ApiKeyCreated(IntegrationEvent):
    """A user (a person or a machine) holds a new API key. Neither the key nor its digest
    travels: only its id and what its owner may see of it."""

    event_type: ClassVar[str] = "identity.api_key_created"

    api_key_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    description: str | None = Field(default=None, max_length=200)
    expires_utc: AwareDatetime | None = None


class ApiKeyDeleted(IntegrationEvent):
    """An API key is refused from now on (a gateway caching its exchange drops it within
    seconds)."""

    event_type: ClassVar[str] = "identity.api_key_deleted"

    api_key_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
