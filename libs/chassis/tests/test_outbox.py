"""Transactional outbox and relay against the real MongoDB replica set and RabbitMQ."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker
from pymongo.errors import ConnectionFailure

from chassis.broker import create_broker, events_exchange
from chassis.inbox import INBOX
from chassis.logging import CORRELATION_ID_HEADER, REQUEST_ID_HEADER, bound_ids
from chassis.mongo import Mongo
from chassis.outbox import OUTBOX, PENDING, SENT, OutboxRelay
from chassis.settings import ServiceSettings
from chassis.uow import Tx, UnitOfWork
from contracts import DomainEvent, Envelope


class Boom(Exception):
    pass


@dataclass
class Producer:
    settings: ServiceSettings
    mongo: Mongo
    broker: RabbitBroker

    def relay(self, **options) -> OutboxRelay:
        return OutboxRelay(self.mongo, self.broker, events_exchange(self.settings), **options)

    async def sent(self, envelope: Envelope) -> dict | None:
        return await _sent(self.mongo.collection(OUTBOX), envelope)


@pytest.fixture
async def producer(make_settings, amqp):
    """A service's MongoDB and a connected broker, wired by hand (no relay running)."""
    settings = make_settings("producer")
    await amqp.events_exchange()  # the chassis declares it at start; here nothing else does
    mongo = Mongo(settings.mongo_url, settings.database_name)
    broker = create_broker(settings)
    await broker.connect()
    yield Producer(settings, mongo, broker)
    await broker.stop()
    await mongo.close()


def emit(event: DomainEvent):
    async def work(tx: Tx) -> Envelope:
        return tx.publish(event, tenant_id="tenant-a", actor_id="user-a")

    return work


async def test_unit_of_work_commits_state_and_event_together_or_not_at_all(producer, make_event):
    uow = UnitOfWork(producer.mongo, None)
    things = producer.mongo.collection("things")
    outbox = producer.mongo.collection(OUTBOX)
    happened = make_event()

    async def fails_after_publishing(tx):
        await things.insert_one({"_id": "t1"}, session=tx.session)
        tx.publish(happened(n=1), tenant_id="tenant-a", actor_id="user-a")
        raise Boom

    with pytest.raises(Boom):
        await uow.run(fails_after_publishing)
    assert await things.count_documents({}) == 0
    assert await outbox.count_documents({}) == 0

    async def succeeds(tx):
        await things.insert_one({"_id": "t1"}, session=tx.session)
        return tx.publish(happened(n=1), tenant_id="tenant-a", actor_id="user-a")

    envelope = await uow.run(succeeds)
    assert await things.count_documents({"_id": "t1"}) == 1
    row = await outbox.find_one({"_id": str(envelope.id)})
    assert row["status"] == PENDING
    assert row["routing_key"] == happened.event_type
    assert Envelope.model_validate_json(row["body"]) == envelope

    # A failing write after the event was raised also takes the event back.
    async def conflicts(tx):
        tx.publish(happened(n=2), tenant_id=None, actor_id=None)
        await things.insert_one({"_id": "t1"}, session=tx.session)  # duplicate key

    with pytest.raises(Exception, match="duplicate key"):
        await uow.run(conflicts)
    assert await outbox.count_documents({}) == 1


async def test_relay_publishes_persistent_with_ids_and_marks_sent(
    producer, make_event, amqp, eventually
):
    # The relay polls every 5 s: an event that goes out at once proves the commit woke it.
    relay = producer.relay(lease=timedelta(seconds=1), poll_interval=5.0)
    uow = UnitOfWork(producer.mongo, relay)
    happened = make_event()
    probe = await amqp.bind(happened.event_type)
    try:
        with bound_ids("req-1", "corr-1"):
            envelope = await uow.run(emit(happened(n=1)))
        relay.start()

        [message] = await amqp.take(probe, 1)
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.message_id == str(envelope.id)
        assert message.correlation_id == "corr-1"
        assert message.headers[CORRELATION_ID_HEADER] == "corr-1"
        assert message.headers[REQUEST_ID_HEADER] == "req-1"
        assert message.content_type == "application/json"
        assert message.type == happened.event_type
        published = Envelope.model_validate_json(message.body)
        assert published == envelope
        assert published.correlation_id == "corr-1"
        assert published.causation_id == "req-1"
        assert published.payload(happened) == happened(n=1)

        row = await eventually(lambda: producer.sent(envelope))
        assert row["sent_at"] is not None
        assert "lease_owner" not in row
        assert "lease_until" not in row
        assert row["attempts"] == 1

        started = time.monotonic()
        second = await uow.run(emit(happened(n=2)))
        [message] = await amqp.take(probe, 1, timeout=2.0)
        assert message.message_id == str(second.id)
        assert time.monotonic() - started < 2.0
    finally:
        await relay.stop()


async def test_concurrent_relays_publish_each_event_once(producer, make_event, amqp):
    happened = make_event()
    probe = await amqp.bind(happened.event_type)
    uow = UnitOfWork(producer.mongo, None)
    ids = {str((await uow.run(emit(happened(n=n)))).id) for n in range(30)}
    relays = [producer.relay(batch_size=7, lease=timedelta(seconds=30)) for _ in range(3)]

    async def drain(relay):
        total = 0
        while sent := await relay.relay_once():
            total += sent
        return total

    counts = await asyncio.gather(*(drain(r) for r in relays))
    assert sum(counts) == 30
    messages = await amqp.take(probe, 30)
    assert {m.message_id for m in messages} == ids
    await asyncio.sleep(0.2)
    assert await probe.get(fail=False) is None
    assert await producer.mongo.collection(OUTBOX).count_documents({"status": SENT}) == 30


class CrashOnMark:
    """An outbox collection whose "mark sent" write fails, as if the process died there."""

    def __init__(self, collection):
        self._collection = collection

    def __getattr__(self, name):
        return getattr(self._collection, name)

    async def update_many(self, filter, update, **kwargs):
        if update.get("$set", {}).get("status") == SENT:
            raise ConnectionFailure("the process died before marking")
        return await self._collection.update_many(filter, update, **kwargs)


async def test_crash_between_publish_and_mark_is_republished_and_applied_once(
    make_chassis, make_event, chassis_log, amqp, eventually, monkeypatch
):
    happened = make_event()
    consumer = make_chassis("consumer")
    counters = consumer.mongo.collection("counters")

    async def count(tx, event, envelope):
        await counters.update_one(
            {"_id": "applied"}, {"$inc": {"n": 1}}, upsert=True, session=tx.session
        )

    consumer.subscriptions.on_event("count", happened, count)
    await consumer.start()
    queue = f"{consumer.settings.service_name}.count"

    # The producer commits an event; its first relay publishes it and dies while marking.
    producer = make_chassis("producer")
    envelope = await UnitOfWork(producer.mongo, None).run(emit(happened(n=1)))
    doomed_mongo = Mongo(producer.settings.mongo_url, producer.settings.database_name)
    real_collection = doomed_mongo.collection
    monkeypatch.setattr(doomed_mongo, "collection", lambda name: CrashOnMark(real_collection(name)))
    doomed_broker = create_broker(producer.settings)
    await doomed_broker.connect()
    doomed_relay = OutboxRelay(
        doomed_mongo,
        doomed_broker,
        events_exchange(producer.settings),
        lease=timedelta(seconds=1.5),
    )
    claimed_at = time.monotonic()
    try:
        with pytest.raises(ConnectionFailure):
            await doomed_relay.relay_once()
    finally:
        await doomed_broker.stop()
        await doomed_mongo.close()

    assert await eventually(lambda: counters.find_one({"_id": "applied"}))
    outbox = producer.mongo.collection(OUTBOX)
    row = await outbox.find_one({"_id": str(envelope.id)})
    assert row["status"] == PENDING
    assert row["lease_owner"] is not None

    # The restarted process's relay leaves it alone while the lease holds...
    await producer.start()
    await asyncio.sleep(max(0.0, 0.7 - (time.monotonic() - claimed_at)))
    row = await outbox.find_one({"_id": str(envelope.id)})
    assert time.monotonic() - claimed_at < 1.5, "too slow to observe the lease"
    assert row["status"] == PENDING
    assert row["attempts"] == 1

    # ...then publishes again once it runs out, and the consumer skips the duplicate.
    row = await eventually(lambda: _sent(outbox, envelope))
    assert row["attempts"] == 2
    await eventually(lambda: chassis_log.named("event.duplicate_skipped"))

    handled = chassis_log.named("event.handled")
    skipped = chassis_log.named("event.duplicate_skipped")
    assert len(handled) == 1
    assert len(skipped) == 1
    assert skipped[0]["message_id"] == str(envelope.id)
    assert skipped[0]["queue"] == queue
    assert (await counters.find_one({"_id": "applied"}))["n"] == 1
    inbox = await consumer.mongo.collection(INBOX).find({}).to_list()
    assert [doc["_id"] for doc in inbox] == [f"{queue}:{envelope.id}"]
    # Both deliveries were acknowledged: nothing waits, nothing was dead-lettered.
    await asyncio.sleep(0.1)
    assert await amqp.count(queue) == 0
    assert await amqp.count(f"{queue}.dlq") == 0


async def _sent(outbox, envelope):
    row = await outbox.find_one({"_id": str(envelope.id)})
    return row if row and row["status"] == SENT else None


async def test_relay_keeps_events_pending_while_broker_is_unreachable(
    make_chassis, make_event, tcp_proxy, test_infra, chassis_log, amqp, eventually
):
    happened = make_event()
    probe = await amqp.bind(happened.event_type)
    producer = make_chassis("producer", amqp_url=tcp_proxy.url(test_infra.amqp_url))
    await producer.start()
    outbox = producer.mongo.collection(OUTBOX)

    before = await producer.uow.run(emit(happened(n=1)))
    [message] = await amqp.take(probe, 1)
    assert message.message_id == str(before.id)

    await tcp_proxy.stop()  # the broker is gone for this service only
    during = await producer.uow.run(emit(happened(n=2)))
    await eventually(lambda: chassis_log.named("outbox.relay_failed"))
    await asyncio.sleep(0.3)
    row = await outbox.find_one({"_id": str(during.id)})
    assert row["status"] == PENDING
    assert row["attempts"] >= 1
    assert "lease_owner" not in row  # given back at once, not held for the lease
    assert await probe.get(fail=False) is None

    await tcp_proxy.start()
    await eventually(lambda: _sent(outbox, during), timeout=15)
    [message] = await amqp.take(probe, 1)
    assert message.message_id == str(during.id)
    await asyncio.sleep(0.1)
    assert await probe.get(fail=False) is None


async def test_relay_stops_when_woken_at_the_moment_it_is_stopped(producer):
    relay = producer.relay(poll_interval=5.0)
    relay.start()
    await asyncio.sleep(0.2)  # idle, waiting to be woken

    async def notify_then_stop():
        relay.notify()  # a request commits just as the service shuts down
        await relay.stop()

    stopping = asyncio.ensure_future(notify_then_stop())
    try:
        done, _ = await asyncio.wait({stopping}, timeout=2)
        assert done, "OutboxRelay.stop() hangs when notify() comes with the cancel"
        assert all(task.done() for task in relay._tasks)
    finally:
        for task in relay._tasks:  # if it hung, do not leave it polling for the whole session
            task.cancel()
        stopping.cancel()
