"""Idempotent inbox: an event id is applied once per consumer, whatever the redeliveries."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from chassis.storage.inbox import INBOX, apply_once
from chassis.storage.mongo import Mongo
from chassis.storage.outbox import OUTBOX
from chassis.storage.unit_of_work import MongoUnitOfWork


@pytest.fixture
async def mongo(make_settings):
    mongo = Mongo.of(make_settings("inbox"))
    yield mongo
    await mongo.stop()


@pytest.fixture
def uow(mongo):
    return MongoUnitOfWork(mongo, lambda scope: scope)


def increment(counter: str = "applied"):
    async def effect(tx):
        await tx.collection("counters").update_one(
            {"_id": counter}, {"$inc": {"n": 1}}, upsert=True
        )

    return effect


async def applied(mongo: Mongo, counter: str = "applied") -> int:
    doc = await mongo.raw("counters").find_one({"_id": counter})
    return doc["n"] if doc else 0


async def test_the_same_event_twice_applies_once(mongo, uow):
    event_id = str(uuid.uuid4())

    assert await apply_once(uow, "svc.handler", event_id, increment()) is True
    assert await apply_once(uow, "svc.handler", event_id, increment()) is False
    assert await applied(mongo) == 1
    record = await mongo.raw(INBOX).find_one({"_id": f"svc.handler:{event_id}"})
    assert record["event_id"] == event_id
    assert record["consumer"] == "svc.handler"
    assert record["received_at"] is not None


async def test_concurrent_copies_apply_once(mongo, uow):
    event_id = str(uuid.uuid4())

    results = await asyncio.gather(
        *(apply_once(uow, "svc.handler", event_id, increment()) for _ in range(10))
    )
    assert sorted(results) == [False] * 9 + [True]
    assert await applied(mongo) == 1
    assert await mongo.raw(INBOX).count_documents({"event_id": event_id}) == 1


async def test_a_failed_effect_leaves_no_record_so_the_retry_applies(mongo, uow):
    event_id = str(uuid.uuid4())

    async def fails(tx):
        await increment()(tx)
        raise RuntimeError("provider down")

    with pytest.raises(RuntimeError):
        await apply_once(uow, "svc.handler", event_id, fails)
    assert await mongo.raw(INBOX).count_documents({}) == 0
    assert await applied(mongo) == 0

    assert await apply_once(uow, "svc.handler", event_id, increment()) is True
    assert await applied(mongo) == 1


async def test_each_consumer_applies_the_event_once(mongo, uow):
    event_id = str(uuid.uuid4())

    assert await apply_once(uow, "svc.one", event_id, increment("one")) is True
    assert await apply_once(uow, "svc.two", event_id, increment("two")) is True
    assert await apply_once(uow, "svc.one", event_id, increment("one")) is False
    assert (await applied(mongo, "one"), await applied(mongo, "two")) == (1, 1)


async def test_events_raised_by_a_skipped_duplicate_are_not_stored(mongo, uow, make_event):
    happened = make_event()
    event_id = str(uuid.uuid4())

    async def reacts(tx):
        tx.scope(None, None).publish(happened(n=1))

    assert await apply_once(uow, "svc.handler", event_id, reacts) is True
    assert await apply_once(uow, "svc.handler", event_id, reacts) is False
    assert await mongo.raw(OUTBOX).count_documents({}) == 1
