"""Usage events of other services, published as their relays publish them, delivered to the
analytics simulator over HTTP: once each, in batches, through its outages; a refusal for good
recorded with its reason, for the refused usage alone; given up after the attempts allowed.
Counted from the simulator's own record."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
from pymongo.asynchronous.collection import AsyncCollection

from contracts import Envelope
from contracts.usages import UsageRecorded
from testkit.analytics import AnalyticsSimulator, Received
from testkit.fixtures import EventProducer
from testkit.waiting import eventually

from .conftest import BATCH_SIZE, Running

Stored = AsyncCollection[dict[str, Any]]


async def publish(producer: EventProducer, run: str, count: int) -> list[Envelope]:
    """`count` usage events of one tenant, each marked with the test's `run`."""
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    return list(
        await asyncio.gather(
            *(
                producer.publish(
                    UsageRecorded(event="car_registered", properties={"run": run, "n": n}),
                    tenant_id=tenant,
                    actor_id=f"user-{n % 3}",
                )
                for n in range(count)
            )
        )
    )


async def arrived(analytics: AnalyticsSimulator, run: str, count: int) -> Received:
    """Once `count` events of `run` arrived (and a moment more, for any extra copy)."""

    async def enough() -> list[dict[str, Any]]:
        mine = (await analytics.received()).with_property("run", run)
        return mine if len(mine) >= count else []

    await eventually(enough, timeout=20)
    await asyncio.sleep(0.5)
    received = await analytics.received()
    return Received(received.requests, received.with_property("run", run))


async def test_each_event_reaches_analytics_once_in_batches(
    producer: EventProducer, analytics: AnalyticsSimulator, running: Running
) -> None:
    run = uuid.uuid4().hex
    sent = await publish(producer, run, 35)
    received = await arrived(analytics, run, 35)
    assert received.copies() == {str(envelope.id): 1 for envelope in sent}
    batches: dict[int, int] = {}
    for event in received.events:
        batches[event["request"]] = batches.get(event["request"], 0) + 1
    assert max(batches.values()) <= BATCH_SIZE
    # Batched, not one request per event: 35 events in at most a handful of requests.
    assert len(batches) <= 8, batches
    sample = next(e for e in received.events if e["uuid"] == str(sent[0].id))
    assert sample["event"] == "car_registered"
    assert sample["distinct_id"] == sent[0].actor_id
    assert sample["properties"]["$groups"] == {"organization": sent[0].tenant_id}
    assert sample["timestamp"] is not None


async def test_an_event_delivered_twice_reaches_analytics_once(
    producer: EventProducer, analytics: AnalyticsSimulator, stored: Stored
) -> None:
    run = uuid.uuid4().hex
    sent = await publish(producer, run, 3)
    # The same envelopes again, as a relay that died before marking them sent publishes them.
    for envelope in sent:
        await producer.resend(envelope)
    received = await arrived(analytics, run, 3)
    assert received.copies() == {str(envelope.id): 1 for envelope in sent}
    assert await stored.count_documents({"properties.run": run}) == 3


async def test_everything_arrives_after_analytics_was_unavailable_for_a_while(
    producer: EventProducer, analytics: AnalyticsSimulator, stored: Stored
) -> None:
    run = uuid.uuid4().hex
    # More failures than one pass tries (analytics_attempts=2): the batch waits, then goes.
    await analytics.fail(503, times=5)
    sent = await publish(producer, run, 12)
    received = await arrived(analytics, run, 12)
    assert received.copies() == {str(envelope.id): 1 for envelope in sent}
    docs = [d async for d in stored.find({"properties.run": run})]
    assert {d["status"] for d in docs} == {"delivered"}
    # Some of them were tried, refused with 503, and given back before they went.
    assert any("503" in d.get("last_error", "") for d in docs)


async def test_a_batch_refused_for_good_is_recorded_failed_and_not_sent_again(
    producer: EventProducer, analytics: AnalyticsSimulator, stored: Stored
) -> None:
    run = uuid.uuid4().hex
    await analytics.fail(400, times=1)
    await publish(producer, run, 1)

    async def failed() -> list[dict[str, Any]]:
        return [d async for d in stored.find({"properties.run": run, "status": "failed"})]

    [doc] = await eventually(failed, timeout=10)
    assert doc["failure"].startswith("400")
    assert doc["attempts"] == 1
    # Left alone from then on: nothing of it arrives, and it is not tried again.
    await asyncio.sleep(1.0)
    assert (await analytics.received()).with_property("run", run) == []
    stored_again = await stored.find_one({"_id": doc["_id"]})
    assert stored_again is not None and stored_again["attempts"] == 1


async def test_one_refused_usage_fails_alone_and_the_rest_of_its_batch_arrives(
    producer: EventProducer, analytics: AnalyticsSimulator, stored: Stored
) -> None:
    run = uuid.uuid4().hex
    bad = f"bad_{run[:8]}"
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{analytics.url}/_simulator/refuse", json={"event": bad}) as response,
    ):
        assert response.status == 204
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    names = ["car_registered"] * 4 + [bad] + ["car_registered"] * 5
    sent = list(
        await asyncio.gather(
            *(
                producer.publish(
                    UsageRecorded(event=name, properties={"run": run, "n": n}),
                    tenant_id=tenant,
                    actor_id="user-1",
                )
                for n, name in enumerate(names)
            )
        )
    )
    good = [envelope for envelope, name in zip(sent, names, strict=True) if name != bad]
    received = await arrived(analytics, run, len(good))
    assert received.copies() == {str(envelope.id): 1 for envelope in good}
    # Halved, not sent one by one: fewer requests than usages.
    assert len({event["request"] for event in received.events}) < len(good)

    async def settled() -> list[dict[str, Any]]:
        docs = [d async for d in stored.find({"properties.run": run})]
        return docs if all(d["status"] != "pending" for d in docs) else []

    docs = await eventually(settled, timeout=10)
    [failed] = [d for d in docs if d["status"] == "failed"]
    assert failed["event"] == bad
    assert failed["failure"].startswith("400") and bad in failed["failure"]
    assert {d["status"] for d in docs if d["event"] != bad} == {"delivered"}


async def test_a_usage_not_taken_after_every_attempt_is_failed_with_the_last_error(
    producer: EventProducer, analytics: AnalyticsSimulator, stored: Stored
) -> None:
    run = uuid.uuid4().hex
    # Four passes (analytics_max_attempts=4) of two tries each (analytics_attempts=2).
    await analytics.fail(503, times=8)
    await publish(producer, run, 1)

    async def failed() -> list[dict[str, Any]]:
        return [d async for d in stored.find({"properties.run": run, "status": "failed"})]

    [doc] = await eventually(failed, timeout=20)
    assert doc["failure"].startswith("not taken after 4 attempts; last: 503")
    assert doc["attempts"] == 4
    assert (await analytics.received()).with_property("run", run) == []
    # It took exactly the eight failures: the next usage goes at once.
    later = uuid.uuid4().hex
    await publish(producer, later, 1)
    await arrived(analytics, later, 1)
    stored_again = await stored.find_one({"_id": doc["_id"]})
    assert stored_again is not None and stored_again["attempts"] == 4
