"""The write counter sees what MongoDB recorded: one write per application, none for a rollback.

The upsert below is the shape of the bookings projection of `car_registered`: a `$set` with
a fresh `projected_at`, so applying it again changes the document and MongoDB records it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from testkit.fixtures import TestInfra
from testkit.mongo_writes import INSERTED_ONCE, WriteCounter, Writes

Collection = AsyncCollection[dict[str, Any]]


@pytest.fixture
async def collection(test_infra: TestInfra) -> AsyncIterator[Collection]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(test_infra.mongo_url)
    yield client[test_infra.db_name("testkit")]["projection"]
    await client.close()


async def project(
    collection: Collection,
    car_id: str,
    at: datetime,
    session: AsyncClientSession | None = None,
) -> None:
    await collection.update_one(
        {"_id": car_id},
        {"$set": {"make": "Kia", "projected_at": at}},
        upsert=True,
        session=session,
    )


async def test_one_application_is_one_insert(collection: Collection) -> None:
    before, car = str(uuid.uuid4()), str(uuid.uuid4())
    await project(collection, before, datetime.now(UTC))
    counter = await WriteCounter.start(collection)
    await project(collection, car, datetime.now(UTC))
    untouched = str(uuid.uuid4())
    assert await counter.writes([car, before, untouched]) == {
        car: INSERTED_ONCE,
        before: Writes(),  # written before `start`
        untouched: Writes(),
    }


async def test_a_second_application_is_a_second_write(collection: Collection) -> None:
    car, at = str(uuid.uuid4()), datetime.now(UTC)
    counter = await WriteCounter.start(collection)
    await project(collection, car, at)
    await project(collection, car, at + timedelta(milliseconds=5))
    seen = (await counter.writes([car]))[car]
    assert seen == Writes(insert=1, update=1) and seen.total == 2


async def test_writes_in_a_transaction_count_each_and_a_rollback_counts_none(
    collection: Collection,
) -> None:
    twice, rolled_back, at = str(uuid.uuid4()), str(uuid.uuid4()), datetime.now(UTC)
    counter = await WriteCounter.start(collection)
    async with collection.database.client.start_session() as session:
        async with await session.start_transaction():
            await project(collection, twice, at, session)
            await project(collection, twice, at + timedelta(milliseconds=5), session)
        await session.start_transaction()
        await project(collection, rolled_back, at, session)
        await session.abort_transaction()
    assert await counter.writes([twice, rolled_back]) == {
        twice: Writes(insert=1, update=1),
        rolled_back: Writes(),
    }
