"""Use cases of organizations: create a shared one, its members, and its tenant marked
provisioned when provisioning says so."""

from __future__ import annotations

from typing import Protocol

from chassis.clock import Clock, utc_now
from chassis.errors import NotAllowed, NotFound, RuleViolation
from chassis.messaging.delivery import PoisonMessage
from chassis.messaging.subscriptions import TenantEventContext
from chassis.storage.unit_of_work import UnitOfWork
from chassis.web.auth import Caller
from contracts.provisioning import TenantProvisioned
from contracts.roles import OrganizationRole
from identity.organizations.billing import BillingProvider, Card
from identity.organizations.domain import Organization, OrganizationKind, organization_name
from identity.organizations.repository import OrganizationRepository
from identity.users.domain import FOUNDER_ROLES, MEMBER_ROLES, EndUser
from identity.users.repository import UserRepository


class OrganizationNotFound(NotFound):
    pass


class OrganizationsTransaction(Protocol):
    @property
    def users(self) -> UserRepository: ...

    @property
    def organizations(self) -> OrganizationRepository: ...


class OrganizationService:
    def __init__(
        self,
        uow: UnitOfWork[OrganizationsTransaction],
        billing: BillingProvider,
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        self._billing = billing
        self._clock = clock

    async def create(self, caller: Caller, name: str, card: Card | None = None) -> Organization:
        """A shared organization: its creator becomes its owner, billing admin and member.
        With a card, the billing provider keeps it first; a refused card stores nothing."""
        name = organization_name(name)
        billing = None
        if card is not None:
            billing = await self._billing.register_customer(card, name, self._clock())
        organization = Organization.create(
            name, OrganizationKind.SHARED, caller.user_id, self._clock(), billing
        )

        async def work(tx: OrganizationsTransaction) -> Organization:
            creator = await tx.users.get(caller.user_id)
            if creator is None:
                raise NotAllowed("the caller is not a registered user")
            creator.join(organization.id, FOUNDER_ROLES)
            await tx.organizations.add(organization)
            await tx.users.save(creator)
            return organization

        return await self._uow.run(work, tenant_id=organization.id, actor_id=caller.user_id)

    async def add_member(self, caller: Caller, organization_id: str, user_id: str) -> EndUser:
        """An existing user joins the organization as a member (its owners only)."""

        async def work(tx: OrganizationsTransaction) -> EndUser:
            await owned_organization(tx, caller.user_id, organization_id)
            member = await tx.users.get(user_id)
            if member is None:
                # Named in the body, as bookings' car is: the organization was found.
                raise RuleViolation(f"there is no user {user_id}")
            member.join(organization_id, MEMBER_ROLES)
            await tx.users.save(member)
            return member

        return await self._uow.run(work, tenant_id=organization_id, actor_id=caller.user_id)

    async def tenant_provisioned(
        self, tx: OrganizationsTransaction, event: TenantProvisioned, context: TenantEventContext
    ) -> None:
        organization = await tx.organizations.get(event.organization_id)
        if organization is None:
            # Provisioning only ever answers identity's own organizations; no retry mends this.
            raise PoisonMessage(f"there is no organization {event.organization_id}")
        if organization.provisioned(self._clock()):
            await tx.organizations.save(organization)


async def owned_organization(
    tx: OrganizationsTransaction, user_id: str, organization_id: str
) -> tuple[EndUser, Organization]:
    """The owner and the shared organization they add people to; refused to anyone else."""
    owner = await tx.users.get(user_id)
    if owner is None or OrganizationRole.OWNER not in owner.roles_in(organization_id):
        raise NotAllowed("only the organization's owners add members")
    organization = await tx.organizations.get(organization_id)
    if organization is None or organization.kind is OrganizationKind.PERSONAL:
        raise NotAllowed("a personal organization has no other members")
    return owner, organization
