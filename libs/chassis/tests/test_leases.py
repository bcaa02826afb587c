"""Claiming batches under a lease, on the real MongoDB: what the outbox relay and any other
worker of a collection (usages' deliveries) claim with."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from chassis.storage.leases import claim_batch, give_back
from testkit.fixtures import TestInfra

from .conftest import unique

Collection = AsyncCollection[dict[str, Any]]


@pytest.fixture
async def work(test_infra: TestInfra) -> AsyncIterator[Collection]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(test_infra.mongo_url)
    collection = client[test_infra.db_name("leases")][unique("work")]
    await collection.insert_many([{"_id": n, "status": "todo", "at": n} for n in range(10)])
    yield collection
    await client.close()


async def claim(collection: Collection, owner: str, **kwargs: Any) -> list[dict[str, Any]]:
    options: dict[str, Any] = {"lease": timedelta(seconds=30), "limit": 4, "order": "at"}
    return await claim_batch(collection, {"status": "todo"}, owner=owner, **(options | kwargs))


async def test_concurrent_claimers_never_hold_the_same_document(work: Collection) -> None:
    batches = await asyncio.gather(*(claim(work, f"worker-{n}") for n in range(5)))
    claimed = [doc["_id"] for batch in batches for doc in batch]
    assert sorted(claimed) == list(range(10))  # each once, and all of them
    first = await claim(work, "late")
    assert first == []
    stored = await work.find_one({"_id": 0})
    assert stored is not None and stored["attempts"] == 1
    assert stored["lease_owner"].startswith("worker-")


async def test_a_run_out_lease_is_claimed_again_and_given_back_ones_at_once(
    work: Collection,
) -> None:
    lapsed = await claim(work, "died", lease=timedelta(seconds=-1))
    assert [doc["_id"] for doc in lapsed] == [0, 1, 2, 3]
    again = await claim(work, "next")
    assert [doc["_id"] for doc in again] == [0, 1, 2, 3]
    await give_back(work, again[:2])
    third = await claim(work, "third")
    assert [doc["_id"] for doc in third] == [0, 1, 4, 5]
    stored = await work.find_one({"_id": 0})
    assert stored is not None and stored["attempts"] == 3


async def test_a_claimer_may_decline_the_candidates(work: Collection) -> None:
    assert await claim(work, "picky", worth_claiming=lambda docs: len(docs) > 4) == []
    assert await work.count_documents({"lease_owner": {"$exists": True}}) == 0
    assert len(await claim(work, "easy", worth_claiming=lambda docs: len(docs) == 4)) == 4
