"""Organizations (tenants): each person's personal one, and the shared ones companies
create; no I/O. Members and their roles are kept on each end user (`users.domain`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chassis.aggregate import Aggregate
from chassis.errors import RuleViolation
from chassis.logging import new_id

MAX_NAME = 200


class OrganizationKind(StrEnum):
    # Made for one person or machine at registration; never shared.
    PERSONAL = "personal"
    SHARED = "shared"


class CompanySize(StrEnum):
    """How many people a company says it has, in the bands the sign-up form offers."""

    TINY = "1-10"
    SMALL = "11-50"
    MEDIUM = "51-200"
    LARGE = "201-1000"
    HUGE = "1001+"


class InvalidOrganizationName(RuleViolation):
    pass


def organization_name(name: str) -> str:
    """The name with its whitespace tidied; refused when empty or too long."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise InvalidOrganizationName(f"an organization's name has 1 to {MAX_NAME} characters")
    return name


@dataclass(frozen=True)
class BillingAccount:
    """What the billing provider keeps for us: a reference and what a person needs to
    recognise the card; never the card's number."""

    provider: str
    customer_id: str
    card_brand: str
    card_last4: str
    card_expiry: str


@dataclass(frozen=True)
class OrganizationCreated:
    organization_id: str
    name: str
    kind: OrganizationKind
    created_by: str


@dataclass(frozen=True)
class OrganizationProvisioned:
    organization_id: str


@dataclass
class Organization(Aggregate):
    id: str
    name: str
    kind: OrganizationKind
    created_by: str
    created_at: datetime
    billing: BillingAccount | None = None
    provisioned_at: datetime | None = None
    # What a company told us of itself when it signed up.
    size: CompanySize | None = None
    website: str | None = None

    @classmethod
    def create(
        cls,
        name: str,
        kind: OrganizationKind,
        created_by: str,
        now: datetime,
        billing: BillingAccount | None = None,
        organization_id: str | None = None,
        *,
        size: CompanySize | None = None,
        website: str | None = None,
    ) -> Organization:
        """`created_by` is the user who founds it; for a personal organization, the user
        registering, whose id is chosen before either exists (`organization_id` likewise)."""
        name = organization_name(name)
        organization = cls(
            organization_id or new_id(),
            name,
            kind,
            created_by,
            now,
            billing,
            size=size,
            website=website,
        )
        organization.record(OrganizationCreated(organization.id, name, kind, created_by))
        return organization

    def provisioned(self, now: datetime) -> bool:
        """Mark the tenant provisioned; False when it was already (the event redelivered)."""
        if self.provisioned_at is not None:
            return False
        self.provisioned_at = now
        self.record(OrganizationProvisioned(self.id))
        return True
