"""The use cases on the in-memory unit of work: what is stored and published."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from chassis.messaging.delivery import PoisonMessage
from contracts.audits import AuditOutcome, AuditRecorded
from contracts.identity import OrganizationCreated
from contracts.provisioning import TenantProvisioned
from provisioning.domain import TenantDefaults
from provisioning.service import ProvisioningService


def created(org: str = "org-1", name: str = "Acme Ltd") -> OrganizationCreated:
    return OrganizationCreated(organization_id=org, name=name, created_by="user-1")


async def test_an_organization_created_provisions_its_tenant_and_publishes_it(
    uow: Any, provisioning: ProvisioningService, now: datetime, defaults: TenantDefaults
) -> None:
    await uow.deliver(
        provisioning.organization_created, created(), tenant_id="org-1", actor_id="user-1"
    )
    [tenant] = uow.state.tenants.values()
    assert (tenant.id, tenant.name, tenant.created_by) == ("org-1", "Acme Ltd", "user-1")
    assert (tenant.settings, tenant.provisioned_at) == (defaults, now)
    assert uow.events(TenantProvisioned) == [TenantProvisioned(organization_id="org-1")]
    [audit] = uow.events(AuditRecorded)
    assert (audit.action, audit.target, audit.outcome) == (
        "provisioning.tenant_provisioned",
        "tenant:org-1",
        AuditOutcome.SUCCEEDED,
    )
    # Both for the organization's tenant, by whoever created it.
    assert {(e.tenant_id, e.actor_id) for e in uow.published} == {("org-1", "user-1")}


async def test_the_same_organization_twice_is_provisioned_once(
    uow: Any, provisioning: ProvisioningService
) -> None:
    for name in ("Acme Ltd", "Acme Renamed"):
        await uow.deliver(provisioning.organization_created, created(name=name), tenant_id="org-1")
    assert [t.name for t in uow.state.tenants.values()] == ["Acme Ltd"]
    assert len(uow.events(TenantProvisioned)) == 1
    assert len(uow.events(AuditRecorded)) == 1


async def test_an_organization_published_for_another_tenant_is_poison(
    uow: Any, provisioning: ProvisioningService
) -> None:
    with pytest.raises(PoisonMessage, match="must be the same"):
        await uow.deliver(provisioning.organization_created, created(), tenant_id="org-2")
    assert uow.state.tenants == {} and uow.published == []


async def test_a_blank_name_is_poison(uow: Any, provisioning: ProvisioningService) -> None:
    with pytest.raises(PoisonMessage, match="blank"):
        await uow.deliver(provisioning.organization_created, created(name="  "), tenant_id="org-1")
    assert uow.state.tenants == {} and uow.published == []


def test_bad_defaults_stop_the_service_at_start(uow: Any) -> None:
    with pytest.raises(ValueError, match="timezone"):
        ProvisioningService(uow, TenantDefaults("Nowhere/Else", "en", "eu", "trial"))
