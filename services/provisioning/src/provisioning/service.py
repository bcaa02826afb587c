"""Use cases of the provisioning service; what its events tell others."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from chassis.clock import Clock, utc_now
from chassis.errors import RuleViolation
from chassis.logging import get_logger
from chassis.messaging.delivery import PoisonMessage
from chassis.messaging.subscriptions import TenantEventContext
from chassis.records import told
from chassis.storage.unit_of_work import UnitOfWork
from contracts import IntegrationEvent
from contracts import provisioning as published
from contracts.identity import OrganizationCreated
from provisioning.domain import Tenant, TenantDefaults, TenantProvisioned
from provisioning.repository import TenantRepository

log = get_logger(__name__)


class ProvisioningTransaction(Protocol):
    @property
    def tenants(self) -> TenantRepository: ...


class ProvisioningService:
    def __init__(
        self,
        uow: UnitOfWork[ProvisioningTransaction],
        defaults: TenantDefaults,
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        # Checked now: a bad default stops the service at start, not at its first tenant.
        self._defaults = defaults.checked()
        self._clock = clock

    async def organization_created(
        self, tx: ProvisioningTransaction, event: OrganizationCreated, context: TenantEventContext
    ) -> None:
        """Provision the organization's tenant, once: an organization already provisioned
        (the event redelivered, or published twice) is left as it is and publishes nothing."""
        if event.organization_id != context.tenant_id:
            # Identity publishes the organization as its own tenant; anything else is a
            # message no retry can mend.
            raise PoisonMessage(
                f"organization {event.organization_id} is published for tenant "
                f"{context.tenant_id}; they must be the same"
            )
        if await tx.tenants.exists(event.organization_id):
            log.info("tenant.already_provisioned", tenant=event.organization_id)
            return
        try:
            tenant = Tenant.provision(
                event.organization_id, event.name, event.created_by, self._defaults, self._clock()
            )
        except RuleViolation as exc:
            raise PoisonMessage(str(exc)) from exc
        await tx.tenants.add(tenant)


def integration_events(event: object) -> Iterator[IntegrationEvent]:
    """What the other services are told of each thing that happens to a tenant."""
    match event:
        case TenantProvisioned(tenant_id, name):
            yield from told(
                published.TenantProvisioned(organization_id=tenant_id),
                target=f"tenant:{tenant_id}",
                detail=f"provisioned {name!r}",
            )
        case _:
            raise TypeError(f"no integration event for {event!r}")
