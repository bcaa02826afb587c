"""A new end user with their personal organization, whichever way they register (a password,
a first single sign-on, an anonymous machine): the organization is theirs alone, and they
found it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chassis.logging import new_id
from identity.organizations.domain import Organization, OrganizationKind
from identity.users.domain import FOUNDER_ROLES, EndUser, UserKind


@dataclass(frozen=True)
class Founded:
    user: EndUser
    organization: Organization


def with_personal_organization(
    kind: UserKind,
    now: datetime,
    *,
    name: str,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    timezone: str | None = None,
    operator: bool = False,
    user_id: str | None = None,
    organization_id: str | None = None,
) -> Founded:
    """The user and their organization, named `name`, with the ids given or new ones;
    neither stored yet."""
    user_id, organization_id = user_id or new_id(), organization_id or new_id()
    organization = Organization.create(
        name, OrganizationKind.PERSONAL, user_id, now, organization_id=organization_id
    )
    user = EndUser.register(
        kind,
        organization_id,
        FOUNDER_ROLES,
        now,
        email=email,
        first_name=first_name,
        last_name=last_name,
        timezone=timezone,
        operator=operator,
        user_id=user_id,
    )
    return Founded(user, organization)
