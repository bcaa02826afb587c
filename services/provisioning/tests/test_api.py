"""The provisioning service on the real MongoDB and RabbitMQ: organization-created events
published as identity's relay publishes them, what it stores, and what reaches the exchange
(seen by a queue of the test's own, not by the service's outbox)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aio_pika.abc import AbstractIncomingMessage

from chassis.messaging.delivery import DEAD_REASON_HEADER
from chassis.storage.outbox import SENT
from contracts import Envelope
from contracts.audits import AuditRecorded
from contracts.identity import OrganizationCreated
from contracts.provisioning import TenantProvisioned
from provisioning.main import ProvisioningSettings
from testkit.api import PlatformClient, TenantRecord
from testkit.fixtures import EventProducer, TestInfra
from testkit.identity import People, Person
from testkit.rabbit import Rabbit
from testkit.stored import Database
from testkit.waiting import eventually

QUEUE = "provisioning.organization_created"
EXCHANGE = "domain_events"


def organization() -> str:
    return f"org-{uuid.uuid4().hex[:8]}"


def created(org: str, name: str = "Acme Ltd") -> OrganizationCreated:
    return OrganizationCreated(organization_id=org, name=name, created_by="founder")


@pytest.fixture
async def rabbit(test_infra: TestInfra, provisioning_url: str) -> AsyncIterator[Rabbit]:
    # The running service has declared the exchange and its queues.
    async with Rabbit.connect(test_infra.amqp_url) as rabbit:
        yield rabbit


def of_tenant(messages: list[AbstractIncomingMessage], org: str) -> list[Envelope]:
    envelopes = [Envelope.model_validate_json(m.body) for m in messages]
    return [e for e in envelopes if e.tenant_id == org]


async def settled(database: Database, org: str, events: list[Envelope]) -> None:
    """Wait until every one of `events` is in the inbox and the outbox has nothing pending,
    then a little longer, so that a late second publication would show."""

    async def applied() -> bool:
        ids = [str(e.id) for e in events]
        found = await database["inbox"].count_documents(
            {"consumer": QUEUE, "event_id": {"$in": ids}}
        )
        pending = await database["outbox"].count_documents({"status": {"$ne": SENT}})
        return found == len(set(ids)) and pending == 0

    await eventually(applied, timeout=15)
    await asyncio.sleep(1.0)


async def test_an_organization_created_twice_and_redelivered_is_provisioned_and_published_once(
    producer: EventProducer, rabbit: Rabbit, database: Database, settings: ProvisioningSettings
) -> None:
    published = await rabbit.watch(EXCHANGE, TenantProvisioned.event_type)
    audits = await rabbit.watch(EXCHANGE, AuditRecorded.event_type)
    org = organization()
    first = await producer.publish(created(org), tenant_id=org, actor_id="founder")
    # The same envelope again (a relay that crashed before marking it sent), and another
    # envelope for the same organization (identity publishing it twice).
    await producer.resend(first)
    second = await producer.publish(created(org, "Acme Renamed"), tenant_id=org, actor_id="founder")
    await settled(database, org, [first, second])

    [record] = await database["tenants"].find({"tenant_id": org}).to_list()
    assert record["_id"] == org
    assert (record["name"], record["created_by"]) == ("Acme Ltd", "founder")
    assert (record["timezone"], record["locale"], record["data_region"], record["plan"]) == (
        settings.tenant_timezone,
        settings.tenant_locale,
        settings.tenant_data_region,
        settings.tenant_plan,
    )

    [provisioned] = of_tenant(published, org)
    assert provisioned.payload(TenantProvisioned) == TenantProvisioned(organization_id=org)
    # Caused by the first event, in its correlation, acted by its actor.
    assert provisioned.causation_id == str(first.id)
    assert (provisioned.correlation_id, provisioned.actor_id) == (first.correlation_id, "founder")
    [audit] = of_tenant(audits, org)
    assert audit.payload(AuditRecorded).target == f"tenant:{org}"


async def dead_letter(rabbit: Rabbit, message_id: str) -> AbstractIncomingMessage:
    """The copy of `message_id` in the queue's dead letters (others' are put aside)."""

    async def found() -> AbstractIncomingMessage | None:
        for message in await rabbit.take(f"{QUEUE}.dlq"):
            if message.message_id == message_id:
                return message
        return None

    message: AbstractIncomingMessage = await eventually(found, timeout=15, interval=0.1)
    return message


async def test_a_malformed_organization_created_is_dead_lettered_with_its_reason(
    rabbit: Rabbit, database: Database
) -> None:
    org = organization()
    envelope = Envelope.wrap(created(org), tenant_id=org, actor_id=None, correlation_id="c-1")
    body: dict[str, Any] = json.loads(envelope.model_dump_json())
    del body["data"]["created_by"]
    await rabbit.publish(
        EXCHANGE,
        QUEUE.replace("provisioning", "identity"),
        json.dumps(body).encode(),
        message_id=str(envelope.id),
    )
    message = await dead_letter(rabbit, str(envelope.id))
    reason = str((message.headers or {})[DEAD_REASON_HEADER])
    assert "created_by" in reason, reason
    assert await database["tenants"].count_documents({"_id": org}) == 0


async def test_an_organization_published_for_another_tenant_is_dead_lettered(
    producer: EventProducer, rabbit: Rabbit, database: Database
) -> None:
    org = organization()
    envelope = await producer.publish(created(org), tenant_id=organization())
    message = await dead_letter(rabbit, str(envelope.id))
    assert "must be the same" in str((message.headers or {})[DEAD_REASON_HEADER])
    assert await database["tenants"].count_documents({"_id": org}) == 0


async def test_operators_and_the_tenants_owners_read_its_record(
    people: People, operator: Person, provisioning_url: str, producer: EventProducer
) -> None:
    alice, bob, carol = await people.person(), await people.person(), await people.person()
    # Alice founds the organization, Bob is a member of it; Carol owns another.
    alice, bob = await people.organization(alice, bob)
    org = alice.organization_id
    # As identity publishes it (its own events do not reach this service here).
    founded = OrganizationCreated(organization_id=org, name="Acme Ltd", created_by=alice.user_id)
    await producer.publish(founded, tenant_id=org, actor_id=alice.user_id)
    ops = operator.calling(provisioning_url)
    record: TenantRecord = await eventually(lambda: _found(ops, org), timeout=15, interval=0.1)
    assert (record.id, record.name, record.created_by) == (org, "Acme Ltd", alice.user_id)
    assert await alice.calling(provisioning_url).tenant_record(org) == record

    member = bob.calling(provisioning_url)
    (await member.call("GET", f"/tenants/{org}")).problem(403)
    (await carol.calling(provisioning_url).call("GET", f"/tenants/{org}")).problem(403)
    (await ops.call("GET", f"/tenants/{organization()}")).problem(404)
    (await member.call("GET", f"/tenants/{org}", headers={"Authorization": ""})).problem(401)


async def _found(client: PlatformClient, org: str) -> TenantRecord | None:
    answer = await client.call("GET", f"/tenants/{org}")
    return answer.parse(TenantRecord) if answer.status == 200 else None
