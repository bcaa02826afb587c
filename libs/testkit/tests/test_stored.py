"""`stored_for` sees everything a service keeps for a tenant, pending records and outbox
events included, and nothing of other tenants."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from chassis.storage.outbox import OUTBOX, add_to_outbox
from contracts import Envelope, TenantEvent
from testkit.fixtures import TestInfra
from testkit.stored import stored_for


class Booked(TenantEvent):
    event_type: ClassVar[str] = "testkit.booked"

    booking_id: str


@pytest.fixture
async def database(test_infra: TestInfra) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(test_infra.mongo_url)
    yield client[test_infra.db_name(f"testkit_stored_{uuid.uuid4().hex[:6]}")]
    await client.close()


def envelope(tenant_id: str) -> tuple[Envelope, None]:
    event = Booked(booking_id=uuid.uuid4().hex)
    return Envelope.wrap(event, tenant_id=tenant_id, actor_id="u1", correlation_id="c1"), None


async def test_counts_every_collection_of_the_tenant_and_its_outbox_events(
    database: AsyncDatabase[dict[str, Any]],
) -> None:
    tenant, other = "tenant-a", "tenant-a-other"
    assert await stored_for(database, tenant) == {}

    await database["bookings"].insert_many(
        [
            {"_id": "b1", "tenant_id": tenant, "status": "pending"},
            {"_id": "b2", "tenant_id": other, "status": "confirmed"},
        ]
    )
    await database["cars"].insert_one({"_id": "c1", "tenant_id": other})
    await database["inbox"].insert_one({"_id": "q:e1", "consumer": "q", "event_id": "e1"})
    await add_to_outbox(database[OUTBOX], [envelope(tenant), envelope(tenant), envelope(other)])

    assert await stored_for(database, tenant) == {"bookings": 1, OUTBOX: 2}
    assert await stored_for(database, other) == {"bookings": 1, "cars": 1, OUTBOX: 1}
