"""Deferred writes: queued in a transaction, sent as one bulk write, never lost or reordered.

What reaches MongoDB is counted by the driver's command monitoring, not by the code under test.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient, InsertOne, UpdateOne
from pymongo.errors import BulkWriteError
from pymongo.monitoring import CommandFailedEvent, CommandListener, CommandStartedEvent

from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import MongoUnitOfWork, Scope

THINGS = "things"


class Commands(CommandListener):
    """The commands the client sent, by name, with what each carried."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def started(self, event: CommandStartedEvent) -> None:
        self.sent.append((event.command_name, event.command))

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass

    def to(self, name: str, collection: str) -> list[Any]:
        return [c for n, c in self.sent if n == name and c.get(name) == collection]


@pytest.fixture
def commands() -> Commands:
    return Commands()


@pytest.fixture
async def mongo(make_settings, commands):
    settings = make_settings("deferred")
    mongo = Mongo.of(settings)
    # The same client the chassis makes, listened to.
    mongo.client = AsyncMongoClient(settings.mongo_url, tz_aware=True, event_listeners=[commands])
    mongo.db = mongo.client[settings.database_name]
    yield mongo
    await mongo.stop()


@pytest.fixture
def uow(mongo):
    return MongoUnitOfWork(mongo, lambda scope: scope)


async def stored(mongo: Mongo) -> dict[Any, Any]:
    return {d["_id"]: d.get("n") async for d in mongo.raw(THINGS).find({})}


async def test_deferred_writes_go_in_one_command_in_the_order_queued(mongo, uow, commands):
    async def work(tx: Scope) -> None:
        things = tx.collection(THINGS)
        for i in range(3):
            things.defer(UpdateOne({"_id": i}, {"$set": {"n": i}}, upsert=True))
        things.defer(UpdateOne({"_id": 0}, {"$set": {"n": "last"}}))

    await uow.run(work, tenant_id="t")

    assert await stored(mongo) == {0: "last", 1: 1, 2: 2}
    [update] = commands.to("update", THINGS)
    assert len(update["updates"]) == 4
    assert update["ordered"] is True
    assert "txnNumber" in update  # inside the transaction


async def test_a_deferred_upsert_is_told_whether_it_inserted(mongo, uow, commands):
    await mongo.raw(THINGS).insert_one({"_id": "old", "n": 0})
    told: list[tuple[str, bool]] = []

    async def work(tx: Scope) -> None:
        things = tx.collection(THINGS)
        for key in ("new", "old", "other"):
            things.defer(
                UpdateOne({"_id": key}, {"$setOnInsert": {"n": 1}}, upsert=True),
                upserted=lambda inserted, key=key: told.append((key, inserted)),
            )
            things.defer(UpdateOne({"_id": key}, {"$inc": {"n": 1}}))  # not told

    await uow.run(work, tenant_id="t")

    assert told == [("new", True), ("old", False), ("other", True)]
    assert await stored(mongo) == {"old": 1, "new": 2, "other": 2}
    assert len(commands.to("update", THINGS)) == 1


async def test_reads_and_writes_in_the_transaction_see_the_deferred_writes(mongo, uow, commands):
    async def work(tx: Scope) -> tuple[Any, list[Any], int]:
        things = tx.collection(THINGS)
        things.defer(InsertOne({"_id": "a", "n": 1}))
        one = await things.find_one({"_id": "a"})
        things.defer(InsertOne({"_id": "b", "n": 2}))
        found = [d["_id"] async for d in things.find({}).sort("_id")]
        things.defer(UpdateOne({"_id": "b"}, {"$inc": {"n": 1}}))
        updated = await things.update_one({"_id": "b"}, {"$inc": {"n": 10}})
        return one, found, updated.modified_count

    one, found, modified = await uow.run(work, tenant_id="t")

    assert one == {"_id": "a", "n": 1}
    assert found == ["a", "b"]
    assert modified == 1
    assert await stored(mongo) == {"a": 1, "b": 13}
    assert len(commands.to("insert", THINGS)) == 2  # each flushed before the read after it


async def test_a_deferred_write_that_fails_fails_the_whole_transaction(mongo, uow):
    await mongo.raw(THINGS).insert_one({"_id": "taken", "n": 0})

    async def work(tx: Scope) -> None:
        things = tx.collection(THINGS)
        await things.insert_one({"_id": "awaited", "n": 1})
        things.defer(InsertOne({"_id": "fresh", "n": 2}))
        things.defer(InsertOne({"_id": "taken", "n": 3}))

    with pytest.raises(BulkWriteError):
        await uow.run(work, tenant_id="t")

    assert await stored(mongo) == {"taken": 0}


async def test_a_find_not_iterated_sends_nothing(mongo, uow, commands):
    async def work(tx: Scope) -> None:
        things = tx.collection(THINGS)
        things.defer(InsertOne({"_id": "x"}))
        things.find({}).sort("_id").limit(1)

    await uow.run(work, tenant_id="t")

    assert commands.to("find", THINGS) == []
    assert await stored(mongo) == {"x": None}
