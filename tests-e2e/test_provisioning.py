"""Provisioning as its own process: an organization created through identity becomes one
tenant record read through the gateway, even when identity's relay publishes its creation
twice (as after a crash between publishing and marking it sent)."""

from __future__ import annotations

import asyncio

from chassis.storage.outbox import OUTBOX, SENT
from contracts import Envelope
from contracts.identity import OrganizationCreated
from testkit.api import TenantRecord
from testkit.fixtures import EventProducer
from testkit.identity import People, Person
from testkit.stored import Databases
from testkit.waiting import eventually


async def test_an_organization_created_is_provisioned_once(
    identity: EventProducer,
    people: People,
    person: Person,
    operator: Person,
    database: Databases,
) -> None:
    created = await person.api.expect(201, "POST", "/organizations", json={"name": "Acme Ltd"})
    org = created.json()["id"]

    async def sent() -> Envelope | None:
        rows = database("identity")[OUTBOX].find(
            {"routing_key": OrganizationCreated.event_type, "status": SENT}
        )
        envelopes = [Envelope.model_validate_json(row["body"]) async for row in rows]
        return next((e for e in envelopes if e.tenant_id == org), None)

    await identity.resend(await eventually(sent, timeout=10))

    async def provisioned() -> TenantRecord | None:
        answer = await operator.api.call("GET", f"/tenants/{org}")
        return answer.parse(TenantRecord) if answer.status == 200 else None

    record: TenantRecord = await eventually(provisioned, timeout=20, interval=0.1)
    assert (record.id, record.name, record.created_by) == (org, "Acme Ltd", person.user_id)
    assert record.timezone == "UTC" and record.plan == "trial"
    # Its owner reads it, acting for it; a member who owns nothing may not.
    member = await people.person()
    body = {"user_id": member.user_id}
    await person.api.expect(201, "POST", f"/organizations/{org}/members", json=body)
    owner = await people.act_for(person, org)
    assert await owner.api.tenant_record(org) == record
    await people.act_for(member, org)
    (await member.api.call("GET", f"/tenants/{org}")).problem(403)

    # One record, one tenant-provisioned (and its audit record) in the outbox, both sent.
    await asyncio.sleep(1.0)
    db = database("provisioning")
    assert await db["tenants"].count_documents({"_id": org}) == 1
    outbox = db[OUTBOX].find({"routing_key": "provisioning.tenant_provisioned"})
    mine = [row async for row in outbox if org in row["body"]]
    assert len(mine) == 1
