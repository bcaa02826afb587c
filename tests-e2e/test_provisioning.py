"""Provisioning as its own process: an organization created, published on the e2e vhost as
identity's relay will publish it (twice), becomes one tenant record read through the gateway."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from contracts.identity import OrganizationCreated
from contracts.roles import OrganizationRole, PlatformRole
from testkit.api import PlatformClient, TenantRecord
from testkit.fixtures import EventProducer
from testkit.stored import Databases
from testkit.waiting import eventually


async def test_an_organization_created_is_provisioned_once(
    identity: EventProducer, caller: Callable[..., PlatformClient], database: Databases
) -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    created = OrganizationCreated(organization_id=org, name="Acme Ltd", created_by="founder")
    envelope = await identity.publish(created, tenant_id=org, actor_id="founder")
    await identity.resend(envelope)
    operator = caller(tenant_id="ops", roles=[PlatformRole.STANDARD, PlatformRole.OPERATIONS])

    async def provisioned() -> TenantRecord | None:
        answer = await operator.call("GET", f"/tenants/{org}")
        return answer.parse(TenantRecord) if answer.status == 200 else None

    record: TenantRecord = await eventually(provisioned, timeout=20, interval=0.1)
    assert (record.id, record.name, record.created_by) == (org, "Acme Ltd", "founder")
    assert record.timezone == "UTC" and record.plan == "trial"
    owner = caller(tenant_id=org, org_roles=[OrganizationRole.OWNER])
    assert await owner.tenant_record(org) == record
    (await caller(tenant_id=org).call("GET", f"/tenants/{org}")).problem(403)

    # One record, one tenant-provisioned (and its audit record) in the outbox, both sent.
    await asyncio.sleep(1.0)
    db = database("provisioning")
    assert await db["tenants"].count_documents({"_id": org}) == 1
    outbox = db["outbox"].find({"routing_key": "provisioning.tenant_provisioned"})
    mine = [row async for row in outbox if org in row["body"]]
    assert len(mine) == 1
