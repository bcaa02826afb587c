"""Transactional outbox and relay against the real MongoDB replica set and RabbitMQ."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import ConnectionFailure, OperationFailure

from chassis.aggregate import Aggregate
from chassis.config import ServiceSettings
from chassis.logging import CORRELATION_ID_HEADER, REQUEST_ID_HEADER, bound_ids
from chassis.messaging.broker import create_broker, events_exchange
from chassis.messaging.relay import OutboxRelay, exchange_publisher
from chassis.storage.mongo import Mongo
from chassis.storage.outbox import OUTBOX, PENDING, SENT, Lease
from chassis.storage.unit_of_work import MongoUnitOfWork
from contracts import Envelope, IntegrationEvent


class Boom(Exception):
    pass


@dataclass
class Producer:
    settings: ServiceSettings
    mongo: Mongo
    broker: RabbitBroker

    def relay(self, **options) -> OutboxRelay:
        return OutboxRelay(self.mongo, publisher(self.broker, self.settings), **options)

    def uow(self, relay: OutboxRelay | None = None) -> MongoUnitOfWork:
        return MongoUnitOfWork(self.mongo, lambda scope: scope, after_commit=relay)

    async def sent(self, envelope: Envelope) -> dict | None:
        return await _sent(self.mongo.raw(OUTBOX), envelope)


def publisher(broker, settings: ServiceSettings):
    return exchange_publisher(broker, events_exchange(settings), settings.service_name)


@pytest.fixture
async def producer(make_settings, amqp):
    """A service's MongoDB and a connected broker, wired by hand (no relay running)."""
    settings = make_settings("producer")
    await amqp.events_exchange()  # the chassis declares it at start; here nothing else does
    mongo = Mongo.of(settings)
    broker = create_broker(settings)
    await broker.connect()
    yield Producer(settings, mongo, broker)
    await broker.stop()
    await mongo.stop()


async def emit(uow: MongoUnitOfWork, mongo: Mongo, event: IntegrationEvent) -> Envelope:
    """Publish `event` in a transaction of its own; its envelope, as stored."""

    async def work(tx) -> None:
        tx.publish(event)

    await uow.run(work, tenant_id="tenant-a", actor_id="user-a")
    return await stored(mongo, event)


async def stored(mongo: Mongo, event: IntegrationEvent) -> Envelope:
    rows = mongo.raw(OUTBOX).find()
    found = [Envelope.model_validate_json(r["body"]) async for r in rows]
    [envelope] = [e for e in found if e.data == event.model_dump(mode="json")]
    return envelope


async def test_unit_of_work_commits_state_and_event_together_or_not_at_all(producer, make_event):
    uow = producer.uow()
    things = producer.mongo.raw("things")
    outbox = producer.mongo.raw(OUTBOX)
    happened = make_event()

    async def fails_after_publishing(tx):
        await tx.collection("things").insert_one({"_id": "t1"})
        tx.publish(happened(n=1))
        raise Boom

    with pytest.raises(Boom):
        await uow.run(fails_after_publishing, tenant_id="tenant-a", actor_id="user-a")
    assert await things.count_documents({}) == 0
    assert await outbox.count_documents({}) == 0

    async def succeeds(tx):
        await tx.collection("things").insert_one({"_id": "t1"})
        tx.publish(happened(n=1))

    await uow.run(succeeds, tenant_id="tenant-a", actor_id="user-a")
    envelope = await stored(producer.mongo, happened(n=1))
    assert await things.count_documents({"_id": "t1"}) == 1
    row = await outbox.find_one({"_id": str(envelope.id)})
    assert row["status"] == PENDING
    assert row["routing_key"] == happened.event_type
    assert (envelope.tenant_id, envelope.actor_id) == ("tenant-a", "user-a")

    # A failing write after the event was raised also takes the event back.
    async def conflicts(tx):
        tx.publish(happened(n=2))
        await tx.collection("things").insert_one({"_id": "t1"})  # duplicate key

    with pytest.raises(Exception, match="duplicate key"):
        await uow.run(conflicts, tenant_id=None)
    assert await outbox.count_documents({}) == 1


async def test_relay_publishes_persistent_with_ids_and_marks_sent(
    producer, make_event, amqp, eventually
):
    # The relay polls once an hour: the second event going out at all proves the commit woke it.
    relay = producer.relay(lease=timedelta(seconds=1), poll_interval=3600.0)
    uow = producer.uow(relay)
    happened = make_event()
    probe = await amqp.bind(happened.event_type)
    try:
        with bound_ids("req-1", "corr-1"):
            envelope = await emit(uow, producer.mongo, happened(n=1))
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

        second = await emit(uow, producer.mongo, happened(n=2))
        [message] = await amqp.take(probe, 1)
        assert message.message_id == str(second.id)
    finally:
        await relay.stop()


async def test_concurrent_relays_publish_each_event_once(producer, make_event, amqp):
    happened = make_event()
    probe = await amqp.bind(happened.event_type)
    uow = producer.uow()
    ids = {str((await emit(uow, producer.mongo, happened(n=n))).id) for n in range(30)}
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
    assert await producer.mongo.raw(OUTBOX).count_documents({"status": SENT}) == 30


async def _sent(outbox, envelope):
    row = await outbox.find_one({"_id": str(envelope.id)})
    return row if row and row["status"] == SENT else None


async def test_relay_keeps_events_pending_while_broker_is_unreachable(
    make_node, make_event, tcp_proxy, test_infra, chassis_log, amqp, eventually
):
    happened = make_event()
    probe = await amqp.bind(happened.event_type)
    producer = make_node("producer", amqp_url=tcp_proxy.url(test_infra.amqp_url))
    await producer.start()
    outbox = producer.mongo.raw(OUTBOX)

    before = await emit(producer.uow, producer.mongo, happened(n=1))
    [message] = await amqp.take(probe, 1)
    assert message.message_id == str(before.id)

    await tcp_proxy.stop()  # the broker is gone for this service only
    during = await emit(producer.uow, producer.mongo, happened(n=2))
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


async def test_an_event_nobody_subscribes_to_is_sent_and_does_not_hold_back_the_rest(
    producer, make_event, amqp, eventually
):
    unheard, heard = make_event(), make_event()
    probe = await amqp.bind(heard.event_type)
    relay = producer.relay(poll_interval=0.05)
    uow = producer.uow(relay)
    relay.start()
    try:
        # No queue is bound to `unheard`: RabbitMQ drops it, as pub/sub does.
        lonely = await emit(uow, producer.mongo, unheard(n=1))
        await eventually(lambda: producer.sent(lonely), timeout=3)
        followed = await emit(uow, producer.mongo, heard(n=2))
        [message] = await amqp.take(probe, 1, timeout=3)
        assert message.message_id == str(followed.id)
    finally:
        await relay.stop()


@dataclass
class Thing(Aggregate):
    id: str


@dataclass(frozen=True)
class ThingMade:
    thing_id: str


async def test_a_transaction_retried_after_its_commit_failed_still_stores_the_events(
    producer, make_event, monkeypatch
):
    made = make_event()
    uow = MongoUnitOfWork(
        producer.mongo,
        lambda scope: scope,
        lambda event: [made(n=1, note=event.thing_id)] if isinstance(event, ThingMade) else [],
    )
    real_commit = AsyncClientSession.commit_transaction
    failures: list[str] = []

    async def commit_failing_once(session: AsyncClientSession) -> None:
        if not failures:
            # As a server that aborted the transaction at commit (a failover, say) answers.
            failures.append("commit")
            await session.abort_transaction()
            raise OperationFailure(
                "write conflict at commit",
                code=112,
                details={"errorLabels": ["TransientTransactionError"]},
            )
        await real_commit(session)

    monkeypatch.setattr(AsyncClientSession, "commit_transaction", commit_failing_once)
    thing = Thing("t1")
    thing.record(ThingMade("t1"))  # recorded before the unit of work, as a new aggregate is

    async def add(tx) -> None:
        await tx.collection("things").insert_one({"_id": thing.id})
        tx.track(thing)

    await uow.run(add, tenant_id="tenant-a")

    assert failures == ["commit"], "the first commit failed and the work ran again"
    rows = [r async for r in producer.mongo.raw(OUTBOX).find()]
    assert [Envelope.model_validate_json(r["body"]).data["note"] for r in rows] == ["t1"]
    assert thing.recorded == (), "forgotten once committed"


class OutboxUnread:
    """An outbox collection that cannot be read, as if every sweep failed."""

    def __init__(self, collection):
        self._collection = collection

    def __getattr__(self, name):
        return getattr(self._collection, name)

    def find(self, *args, **kwargs):
        raise ConnectionFailure("the outbox cannot be read")


async def test_a_commit_hands_its_events_to_the_relay_which_publishes_them_unread(
    producer, make_event, amqp, eventually, monkeypatch
):
    happened = make_event()
    probe = await amqp.bind(happened.event_type)
    relay = producer.relay(poll_interval=3600.0)
    uow = producer.uow(relay)
    relay.start()
    try:
        await asyncio.sleep(0.1)  # the first sweep, of an empty outbox, is done
        real = relay._outbox
        monkeypatch.setattr(relay, "_outbox", OutboxUnread(real))
        envelope = await emit(uow, producer.mongo, happened(n=1))

        [message] = await amqp.take(probe, 1)
        assert message.message_id == str(envelope.id)
        row = await eventually(lambda: producer.sent(envelope))
        assert row["attempts"] == 1
        assert "lease_owner" not in row
        assert "lease_until" not in row
    finally:
        await relay.stop()


class DiesAfterCommit:
    """A relay's handoff in a process that dies right after its commit: the events are
    stored leased to it, and it never publishes them."""

    def __init__(self, lease: timedelta):
        self._lease = lease

    def lease(self):
        return Lease("dead-process:handoff", datetime.now(UTC) + self._lease)

    def committed(self, rows) -> None:
        pass


async def test_events_of_a_process_that_died_after_its_commit_are_swept_once_the_lease_ends(
    producer, make_event, amqp, eventually
):
    happened = make_event()
    probe = await amqp.bind(happened.event_type)
    dead = MongoUnitOfWork(
        producer.mongo, lambda scope: scope, after_commit=DiesAfterCommit(timedelta(hours=1))
    )
    envelope = await emit(dead, producer.mongo, happened(n=1))
    outbox = producer.mongo.raw(OUTBOX)
    row = await outbox.find_one({"_id": str(envelope.id)})
    assert (row["status"], row["lease_owner"]) == (PENDING, "dead-process:handoff")

    relay = producer.relay(poll_interval=0.05)
    relay.start()
    try:
        # Nobody publishes it while its lease holds...
        await asyncio.sleep(0.3)
        assert await probe.get(fail=False) is None
        # ...and the sweep does once it ran out (here: as if the hour had passed).
        ran_out = datetime.now(UTC) - timedelta(seconds=1)
        await outbox.update_one({"_id": str(envelope.id)}, {"$set": {"lease_until": ran_out}})
        [message] = await amqp.take(probe, 1, timeout=5)
        assert message.message_id == str(envelope.id)
        row = await eventually(lambda: producer.sent(envelope))
        assert row["attempts"] == 2
    finally:
        await relay.stop()


async def test_events_handed_over_but_not_yet_published_are_given_back_when_the_relay_stops(
    producer, make_event
):
    happened = make_event()
    relay = producer.relay(poll_interval=3600.0)
    uow = producer.uow(relay)
    relay.start()
    await asyncio.sleep(0.1)
    for task in relay._tasks:  # the workers are gone; the relay still counts as running
        task.cancel()
    envelope = await emit(uow, producer.mongo, happened(n=1))
    await relay.stop()

    row = await producer.mongo.raw(OUTBOX).find_one({"_id": str(envelope.id)})
    assert row["status"] == PENDING
    assert "lease_owner" not in row, "released, for the next relay to sweep at once"


async def test_a_backlog_of_many_batches_is_swept_without_waiting_for_the_poll(
    producer, make_event, eventually
):
    happened = make_event()
    uow = producer.uow()
    for n in range(15):
        await emit(uow, producer.mongo, happened(n=n))
    relay = producer.relay(batch_size=5, poll_interval=3600.0)
    relay.start()
    try:
        outbox = producer.mongo.raw(OUTBOX)

        async def all_sent() -> bool:
            return await outbox.count_documents({"status": SENT}) == 15

        assert await eventually(all_sent, timeout=5)
    finally:
        await relay.stop()
