"""Relays as real processes, crashed or stalled at named fault points (chassis.faults), on the
real MongoDB and RabbitMQ.

Each relay is `python -m testkit.node`, a chassis node of one producer service, started by
devstack's `System`. The test writes the events into the producer's outbox itself, so the
batch a relay claims is known. What happened is counted where the relays cannot write: a
queue of the test's own bound to the exchange (every copy published), and the writes MongoDB
recorded to the consumer's collection (a change stream); the consumer's inbox and log are
checked against them. The consumer runs in the test process.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from chassis.config import ServiceSettings
from chassis.faults import FaultPoint
from chassis.storage.inbox import INBOX
from chassis.storage.mongo import Mongo
from chassis.storage.outbox import OUTBOX, PENDING, SENT
from chassis.storage.unit_of_work import MongoUnitOfWork
from devstack.services import Service
from devstack.system import StackSettings, System, free_ports
from testkit.logs import log_runs, named
from testkit.mongo_writes import INSERTED_ONCE, WriteCounter

RELAYS = ("relay-a", "relay-b")
EVENTS = 20


@dataclass(frozen=True)
class Producer:
    """The producer service: its settings, and its MongoDB, where the test writes its outbox."""

    settings: ServiceSettings
    mongo: Mongo

    @property
    def outbox(self):
        return self.mongo.raw(OUTBOX)


@pytest.fixture
async def producer(make_settings):
    settings = make_settings("producer")
    producer = Producer(settings, Mongo.of(settings))
    yield producer
    await producer.mongo.stop()


@pytest.fixture
def relays(producer, test_infra, tmp_path):
    """Two processes of the producer service, each a node with its outbox relay."""
    settings = producer.settings
    ports = free_ports(RELAYS)
    system = System(
        StackSettings(
            mongo_url=test_infra.mongo_url,
            amqp_url=test_infra.amqp_url,
            jwks_url=test_infra.jwks_url,
            log_dir=tmp_path,
            ports=ports,
            env={
                "SERVICE_NAME": settings.service_name,
                "MONGO_DB": settings.database_name,
                "OUTBOX_LEASE_SECONDS": str(settings.outbox_lease_seconds),
                "OUTBOX_POLL_SECONDS": str(settings.outbox_poll_seconds),
            },
        ),
        [Service(name=name, module="testkit.node", port=ports[name]) for name in RELAYS],
    )
    yield system
    system.stop(grace=5)


@pytest.fixture
async def consumer(make_node, make_event, chassis_log):
    """A node in this process applying the event: an upsert stamped afresh, so a second
    application would show in MongoDB's record as an update."""
    happened = make_event()
    node = make_node("consumer")

    async def apply(tx, event, context):
        await tx.collection("applied").update_one(
            {"_id": event.n}, {"$set": {"applied_at": datetime.now(UTC)}}, upsert=True
        )

    node.subscriptions.on_event(happened, apply, name="apply")
    await node.start()
    writes = await WriteCounter.start(node.mongo.raw("applied"))
    return node, happened, writes


async def emit_all(producer, happened) -> set[str]:
    """EVENTS events written to the producer's outbox in one transaction; their ids."""

    async def work(tx):
        for n in range(EVENTS):
            tx.publish(happened(n=n))

    await MongoUnitOfWork(producer.mongo, lambda scope: scope).run(work, tenant_id="tenant-a")
    return {row["_id"] async for row in producer.outbox.find({}, {"_id": 1})}


def counted(collection, query, wanted: int):
    """A check for `eventually`: `collection` has `wanted` documents matching `query`."""

    async def check() -> bool:
        return await collection.count_documents(query) == wanted

    return check


async def take_all(probe) -> Counter[str]:
    """Copies of each message waiting in `probe`, taken until it is empty."""
    copies: Counter[str] = Counter()
    while (message := await probe.get(no_ack=True, fail=False)) is not None:
        copies[message.message_id] += 1
    return copies


def outcomes(chassis_log, queue: str) -> Counter[tuple[str, str]]:
    """(event id, handled or skipped as a duplicate) as the consumer logged them."""
    return Counter(
        (record["message_id"], record["event"])
        for record in chassis_log.records
        if record["event"] in ("event.handled", "event.duplicate_skipped")
        and record["queue"] == queue
    )


def died_at(system: System, name: str, point: FaultPoint) -> bool:
    """True once `name` has killed itself, at `point` and at no other."""
    code = system.exited().get(name)
    if code is None:
        return False
    assert code == -signal.SIGKILL, f"{name} exited with {code}, not by SIGKILL"
    [reached] = named(log_runs(system.log_path(name))[-1], "fault_point.reached")
    assert reached["point"] == point
    return True


async def test_a_relay_killed_after_publishing_before_marking_publishes_again_applied_once(
    producer, relays, consumer, amqp, chassis_log, eventually
):
    node, happened, writes = consumer
    queue = f"{node.settings.service_name}.apply"
    outbox = producer.outbox
    probe = await amqp.bind(happened.event_type)
    fault = {"FAULT_POINT": FaultPoint.AFTER_PUBLISH_BEFORE_MARK}
    await asyncio.to_thread(relays.start, ["relay-a"], env=fault)

    events = await emit_all(producer, happened)
    await eventually(lambda: died_at(relays, "relay-a", FaultPoint.AFTER_PUBLISH_BEFORE_MARK))
    # None is marked sent: the relay died before its first mark, with the events it claimed
    # still under its lease.
    assert await outbox.count_documents({"status": PENDING}) == EVENTS
    assert await outbox.count_documents({"lease_until": {"$exists": True}}) >= 1

    # The same service, restarted without the fault point.
    await asyncio.to_thread(relays.start, ["relay-a"])
    await eventually(counted(outbox, {"status": SENT}, EVENTS), timeout=15, interval=0.1)
    # Every publish was confirmed before its mark, so RabbitMQ routed every copy by now: each
    # event once from the restarted relay, and again for those the dead one had published.
    copies = await take_all(probe)
    assert set(copies) == events
    assert set(copies.values()) <= {1, 2}
    assert 2 in copies.values(), "the killed relay had published nothing"

    # The consumer applied each once and skipped every other copy as a duplicate.
    expected = Counter({(event, "event.handled"): 1 for event in events})
    expected.update({(e, "event.duplicate_skipped"): n - 1 for e, n in copies.items() if n > 1})
    await eventually(lambda: outcomes(chassis_log, queue) == expected, timeout=15)
    n_ids = range(EVENTS)
    assert await writes.writes(n_ids) == dict.fromkeys(n_ids, INSERTED_ONCE)
    inbox = await node.mongo.raw(INBOX).distinct("event_id")
    assert set(inbox) == events


async def test_two_relays_racing_past_a_short_lease_publish_each_event_and_it_applies_once(
    producer, relays, consumer, amqp, chassis_log, eventually
):
    node, happened, writes = consumer
    queue = f"{node.settings.service_name}.apply"
    outbox = producer.outbox
    probe = await amqp.bind(happened.event_type)
    fault = {"FAULT_POINT": FaultPoint.PAUSE_AFTER_CLAIM}
    await asyncio.to_thread(relays.start, ["relay-a"], env=fault)

    # Relay A claims every event, then stalls (SIGSTOP) before publishing any.
    events = await emit_all(producer, happened)
    await eventually(lambda: relays.is_paused("relay-a"))
    await eventually(counted(outbox, {"lease_until": {"$exists": True}}, EVENTS))
    assert await probe.get(fail=False) is None

    # Relay B waits out A's lease, claims the same events, publishes them and marks them sent.
    await asyncio.to_thread(relays.start, ["relay-b"])
    await eventually(counted(outbox, {"status": SENT}, EVENTS), timeout=15, interval=0.1)
    by_b = await take_all(probe)
    assert set(by_b) == events

    # A wakes up where it stopped and publishes the batch it claimed: every event again.
    relays.resume("relay-a")
    by_a = Counter(message.message_id for message in await amqp.take(probe, EVENTS))
    assert by_a == Counter(events)

    # Published twice or more, applied once: the other copies were skipped as duplicates.
    copies = by_a + by_b
    expected = Counter({(event, "event.handled"): 1 for event in events})
    expected.update({(e, "event.duplicate_skipped"): n - 1 for e, n in copies.items()})
    await eventually(lambda: outcomes(chassis_log, queue) == expected, timeout=15)
    n_ids = range(EVENTS)
    assert await writes.writes(n_ids) == dict.fromkeys(n_ids, INSERTED_ONCE)
    inbox = await node.mongo.raw(INBOX).distinct("event_id")
    assert set(inbox) == events
