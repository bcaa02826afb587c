"""A company signing up from the website: its admin registered as a person, the company's
shared organization with its card kept by the billing provider, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from chassis.clock import Clock, utc_now
from chassis.storage.unit_of_work import Scopes, UnitOfWork
from identity.credentials.service import CredentialService, CredentialsTransaction, NewPerson
from identity.organizations.billing import BillingProvider, Card
from identity.organizations.domain import (
    CompanySize,
    Organization,
    OrganizationKind,
    organization_name,
)
from identity.users.domain import FOUNDER_ROLES, EndUser
from identity.users.repository import EmailTaken, UserQueries


@dataclass(frozen=True)
class Company:
    name: str
    size: CompanySize | None = None
    website: str | None = None


@dataclass(frozen=True)
class SignedUp:
    admin: EndUser
    organization: Organization


class CompanySignup:
    def __init__(
        self,
        uow: UnitOfWork[CredentialsTransaction],
        credentials: CredentialService,
        users: UserQueries,
        billing: BillingProvider,
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        self._credentials = credentials
        self._users = users
        self._billing = billing
        self._clock = clock

    async def sign_up(self, company: Company, admin: NewPerson, card: Card) -> SignedUp:
        """The admin is registered as `/credentials/register` does it (unconfirmed until
        the emailed token comes back) and becomes the company's owner, billing admin and
        member. Everything the provider could refuse is checked before it is asked, and it
        is asked before anything is written: a refused card stores nothing."""
        name = organization_name(company.name)
        enrolment = await self._credentials.prepare(admin)
        if await self._users.by_email(enrolment.email) is not None:
            raise EmailTaken(f"{enrolment.email} is registered already; log in instead")
        billing = await self._billing.register_customer(card, name, self._clock())
        organization = Organization.create(
            name,
            OrganizationKind.SHARED,
            enrolment.user_id,
            self._clock(),
            billing,
            size=company.size,
            website=company.website,
        )

        async def work(transaction: Scopes[CredentialsTransaction]) -> SignedUp:
            own = transaction.scope(enrolment.organization_id, enrolment.user_id)
            await self._credentials.enrol(own, enrolment, self._clock())
            # The company's events are the company's own: its creation is the tenant that
            # provisioning sets up, and its owners read the audit of its first member.
            tx = transaction.scope(organization.id, enrolment.user_id)
            user = await tx.users.get(enrolment.user_id)
            assert user is not None, "enrolled in this transaction"
            user.join(organization.id, FOUNDER_ROLES)
            # They signed up for the company: their tokens act for it from the first login.
            user.choose_default_organization(organization.id)
            await tx.organizations.add(organization)
            await tx.users.save(user)
            return SignedUp(user, organization)

        return await self._uow.atomically(work)
