"""Pending usages on the real MongoDB: a postponed usage waits before it is claimed again,
one that had every attempt is failed with the last error, failed usages expire, and a
refused API key postpones a batch whole (to the analytics simulator over HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from chassis.storage.mongo import Mongo
from testkit.analytics import served_simulator
from testkit.fixtures import TestInfra
from usages.delivery import Deliveries
from usages.domain import Kind, Retries, Usage, Who
from usages.posthog import PostHog
from usages.repository import (
    FAILED_RETENTION,
    INDEXES,
    USAGES,
    PendingUsages,
    usage_document,
)

LEASE = timedelta(seconds=60)
RETRIES = Retries(max_attempts=2, first_wait=timedelta(hours=1), longest_wait=timedelta(hours=1))


@pytest.fixture
async def mongo(test_infra: TestInfra) -> AsyncIterator[Mongo]:
    mongo = Mongo(test_infra.mongo_url, test_infra.db_name("usages_repository"), INDEXES)
    await mongo.start()
    await mongo.raw(USAGES).delete_many({})
    yield mongo
    await mongo.stop()


async def test_a_postponed_usage_waits_then_is_failed_after_its_last_attempt(
    mongo: Mongo, now: datetime
) -> None:
    usages = mongo.raw(USAGES)
    usage = Usage.record(Kind.USE, "clicked", Who("user-1", True), now, {})
    await usages.insert_one(usage_document(usage, now - timedelta(minutes=1)))
    pending = PendingUsages(mongo, LEASE, RETRIES)

    claimed = await pending.claim(10, timedelta(0))
    assert [u.id for u in claimed.usages] == [usage.id]
    assert await pending.postpone(claimed, "503: busy") == 0
    doc = await usages.find_one({"_id": usage.id})
    assert doc is not None
    assert (doc["status"], doc["attempts"], doc["last_error"]) == ("pending", 1, "503: busy")
    assert "lease_owner" not in doc
    waited = doc["retry_at"] - datetime.now(UTC)
    assert timedelta(minutes=59) < waited <= timedelta(hours=1)
    # Not claimed again before its wait is over.
    assert (await pending.claim(10, timedelta(0))).usages == []

    await usages.update_one({"_id": usage.id}, {"$set": {"retry_at": datetime.now(UTC)}})
    claimed = await pending.claim(10, timedelta(0))
    assert [u.id for u in claimed.usages] == [usage.id]
    assert await pending.postpone(claimed, "502: down") == 1
    doc = await usages.find_one({"_id": usage.id})
    assert doc is not None
    assert doc["status"] == "failed" and doc["attempts"] == 2
    assert doc["failure"] == "not taken after 2 attempts; last: 502: down"
    assert isinstance(doc["failed_at"], datetime)
    assert (await pending.claim(10, timedelta(0))).usages == []


async def test_failed_usages_expire_like_delivered_ones(mongo: Mongo) -> None:
    expiring = {
        next(iter(index["key"])): index["expireAfterSeconds"]
        async for index in await mongo.raw(USAGES).list_indexes()
        if "expireAfterSeconds" in index
    }
    assert expiring["failed_at"] == int(FAILED_RETENTION.total_seconds())
    assert "delivered_at" in expiring


class Counting:
    """The real adapter, counting the requests it is asked for."""

    def __init__(self, analytics: PostHog) -> None:
        self.inner = analytics
        self.batches: list[int] = []

    async def capture(self, usages: Sequence[Usage]) -> None:
        self.batches.append(len(usages))
        await self.inner.capture(usages)


async def test_a_refused_key_fails_no_usage_and_sends_one_request(
    mongo: Mongo, now: datetime
) -> None:
    usages = mongo.raw(USAGES)
    batch = [Usage.record(Kind.USE, "clicked", Who("user-1", True), now, {}) for _ in range(8)]
    await usages.insert_many([usage_document(u, now - timedelta(minutes=1)) for u in batch])
    async with served_simulator() as simulator:
        analytics = Counting(PostHog(simulator.url, "phc_not_this_project"))
        await analytics.inner.start()
        try:
            deliveries = Deliveries(
                PendingUsages(mongo, LEASE, RETRIES), analytics, batch_size=10, linger=timedelta(0)
            )
            assert await deliveries.deliver() == 0
        finally:
            await analytics.inner.stop()
    # Not halved: the key, not a usage, was refused.
    assert analytics.batches == [8]
    docs = [d async for d in usages.find({})]
    assert {d["status"] for d in docs} == {"pending"}
    assert all(d["last_error"].startswith("401") and "retry_at" in d for d in docs)
