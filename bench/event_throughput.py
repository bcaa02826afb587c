"""Events per second from a producer's outbox into a consumer's inbox, against raw aio-pika.

Chassis pipeline: N events are written into a producer's outbox (through its UnitOfWork, in
large transactions) while its relay is stopped, so writing them is not timed. A consumer
Chassis subscribes (`Subscriptions.on_event`, the real inbox). The clock starts when the relay
starts and stops when all N are in the inbox. Three handlers, in alternating rounds: one that
does nothing (the pipeline itself: the consumer's transaction holds only the inbox records),
one that awaits one upsert of its own, and one that defers that upsert (`Writer.defer`: a
batch's writes go as one bulk write, as a projection writes), which is the target row.

Baseline, same run, same vhost, same body size: raw aio-pika publishes N persistent messages
with publisher confirms to a durable queue, from one connection, while a consumer on another
connection (prefetch as the chassis) acks them; timed from the first publish to the last ack.
Publishing runs with a bounded number in flight (the relay's batch size: the baseline) and
one at a time (for reference).

Diagnostics, to show where the time goes: the relay alone (the consumer's queue bound but not
consumed), the same relay publishing through FastStream's `broker.publish` instead of
aio-pika's exchange object (why the chassis does the latter), the consumer alone (its queue
filled beforehand), and raw aio-pika whose consumer runs the same MongoDB transaction per
message as the inbox (insert the id, apply the upsert) without the chassis around it.

Target: with a handler that writes once, the chassis pipeline reaches at least 60% of the
raw events per second (the baseline, the no-op pipeline and the writing one alternate).

    uv run python bench/event_throughput.py [--events 2000] [--prefetch 32] [--batch-size 200]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

if __package__ in (None, ""):  # run as `python bench/event_throughput.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from bench.common import BenchEnv, banner, bench_env, command, table, verdict
from faststream.rabbit import RabbitBroker
from pamqp.commands import Basic
from pymongo import AsyncMongoClient, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from chassis.config import ServiceSettings
from chassis.messaging.broker import create_broker, ensure_confirmed
from chassis.messaging.relay import OutgoingEvent, Publish
from chassis.messaging.subscriptions import EventContext
from chassis.storage.inbox import INBOX
from chassis.storage.outbox import OUTBOX, SENT
from chassis.storage.unit_of_work import Scope
from contracts import Envelope, IntegrationEvent
from testkit.node import Node

# How the benchmark's handler writes its one document per event, if it writes.
Writes = Literal["awaited", "deferred"] | None
TARGET = 0.60  # the pipeline with a handler deferring one write / raw aio-pika
PER_TRANSACTION = 500  # events written per outbox transaction while pre-filling
WAIT_LIMIT = 180.0  # seconds; a stage that takes longer has failed
POLL = 0.05


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3, choices=range(1, 10), help="median of")
    p.add_argument("--prefetch", type=int, default=None, help="default: the chassis setting")
    p.add_argument("--batch-size", type=int, default=None, help="default: the chassis setting")
    p.add_argument(
        "--no-diagnostics", action="store_true", help="skip the relay/consumer breakdown"
    )
    return p


@dataclass(frozen=True)
class Stage:
    name: str
    in_flight: str
    events: int
    first_done: float  # seconds until publishing finished (relay: all marked sent)
    all_done: float  # seconds until the last event was consumed

    @property
    def rate(self) -> float:
        return self.events / self.all_done


def tick(name: str) -> type[IntegrationEvent]:
    """An event type of its own per stage, so no stage's messages reach another's queue."""

    class Tick(IntegrationEvent):
        event_type: ClassVar[str] = f"bench.{name}"

        n: int

    return Tick


def settings(env: BenchEnv, name: str, args: argparse.Namespace) -> ServiceSettings:
    overrides: dict[str, Any] = {}
    if args.prefetch is not None:
        overrides["prefetch_count"] = args.prefetch
    if args.batch_size is not None:
        overrides["outbox_batch_size"] = args.batch_size
    return ServiceSettings(
        service_name=name,
        mongo_url=env.mongo_url,
        mongo_db=env.db_name(name),
        amqp_url=env.amqp_url,
        log_level="WARNING",
        **overrides,
    )


def consumer(
    env: BenchEnv,
    name: str,
    event: type[IntegrationEvent],
    args: argparse.Namespace,
    writes: Writes = None,
) -> Node:
    """A consumer whose handler does nothing, or upserts one document per event: awaiting
    the write, or deferring it (a projection's way: the batch's writes go as one)."""
    node = Node(settings(env, name, args))

    async def apply(tx: Scope, _: IntegrationEvent, context: EventContext) -> None:
        ticks = tx.collection("ticks")
        tick = {"_id": context.event_id}, {"$set": {"n": 1}}
        if writes == "awaited":
            await ticks.update_one(*tick, upsert=True)
        elif writes == "deferred":
            ticks.defer(UpdateOne(*tick, upsert=True))

    node.subscriptions.on_event(event, apply, name="sink")
    return node


async def running(stack: AsyncExitStack, node: Node) -> Node:
    """Start `node` and have `stack` stop it."""
    await node.start()
    stack.push_async_callback(node.stop)
    return node


def faststream_publisher(broker: RabbitBroker, exchange: str) -> Publish:
    """The relay's publishing done through FastStream's `broker.publish`, as the diagnostic
    that shows why the chassis publishes on aio-pika's exchange object instead."""

    async def publish(event: OutgoingEvent) -> None:
        confirmation = await broker.publish(
            event.body,
            exchange=exchange,
            routing_key=event.routing_key,
            persist=True,
            message_id=event.id,
            correlation_id=event.correlation_id,
            message_type=event.routing_key,
            content_type="application/json",
            headers=event.headers(),
            timeout=10,
        )
        ensure_confirmed(confirmation, f"event {event.id}")

    return publish


async def idle_producer(
    stack: AsyncExitStack,
    env: BenchEnv,
    name: str,
    args: argparse.Namespace,
    through_faststream: bool = False,
) -> Node:
    """A started producer whose relay is stopped (its outbox fills but nothing is sent)."""
    chosen = settings(env, name, args)
    broker = create_broker(chosen)
    publish = faststream_publisher(broker, chosen.events_exchange) if through_faststream else None
    producer = await running(stack, Node(chosen, broker=broker, publish=publish))
    await producer.bus.relay.stop()
    return producer


async def prefill(producer: Node, event: type[IntegrationEvent], n: int) -> None:
    for first in range(0, n, PER_TRANSACTION):
        numbers = range(first, min(n, first + PER_TRANSACTION))

        async def write(tx: Scope, numbers: range = numbers) -> None:
            for i in numbers:
                tx.publish(event.model_validate({"n": i}))

        await producer.uow.run(write, tenant_id="bench", actor_id="bench")


async def wait_for(what: str, count: Callable[[], Awaitable[int]], n: int) -> float:
    """Poll until `count()` reaches n; returns the perf_counter() at which it did."""
    deadline = time.monotonic() + WAIT_LIMIT
    while (seen := await count()) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: only {seen} of {n} after {WAIT_LIMIT:.0f}s")
        await asyncio.sleep(POLL)
    return time.perf_counter()


def sent_count(producer: Node) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        return await producer.mongo.raw(OUTBOX).count_documents({"status": SENT})

    return count


async def last_sent_at(producer: Node) -> datetime:
    last = await producer.mongo.raw(OUTBOX).find_one({"status": SENT}, sort=[("sent_at", -1)])
    assert last is not None
    sent_at: datetime = last["sent_at"]
    return sent_at


def inbox_count(node: Node) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        # Metadata, not a scan: the poll must not take CPU from the pipeline it measures.
        return await node.mongo.raw(INBOX).estimated_document_count()

    return count


# --- the chassis pipeline -----------------------------------------------------------------------


async def chassis_pipeline(
    env: BenchEnv, args: argparse.Namespace, writes: Writes, round_: str = "a"
) -> Stage:
    n = args.events
    label = f"{writes or 'pipeline'}_{round_}"
    event = tick(label)
    async with AsyncExitStack() as stack:
        sink = await running(stack, consumer(env, f"consumer_{label}", event, args, writes))
        producer = await idle_producer(stack, env, f"producer_{label}", args)
        await prefill(producer, event, n)
        started, started_at = time.perf_counter(), datetime.now(UTC)
        producer.bus.relay.start()
        # Only the inbox is polled, and cheaply: polling takes CPU from the process measured.
        all_done = await wait_for("inbox", inbox_count(sink), n) - started
        # The last confirms may come after the consumer's acks; the relay marks them then.
        await wait_for("relay", sent_count(producer), n)
        relay_done = (await last_sent_at(producer) - started_at).total_seconds()
    in_flight = (
        f"batch {producer.settings.outbox_batch_size} / prefetch {sink.settings.prefetch_count}"
    )
    name = {
        None: "chassis: outbox -> relay -> inbox, no-op handler",
        "awaited": "chassis: ... + a handler awaiting one write",
        "deferred": "chassis: ... + a handler deferring one write [target]",
    }[writes]
    return Stage(name, in_flight, n, relay_done, all_done)


async def relay_alone(
    env: BenchEnv, args: argparse.Namespace, label: str, through_faststream: bool = False
) -> tuple[float, Node]:
    """Seconds for the relay to publish N events into a bound queue nobody consumes."""
    event = tick(label)
    # Start and stop a consumer once: its durable queue is declared and bound, and stays.
    async with AsyncExitStack() as stack:
        await running(stack, consumer(env, f"consumer_{label}", event, args))
    async with AsyncExitStack() as stack:
        producer = await idle_producer(stack, env, f"producer_{label}", args, through_faststream)
        await prefill(producer, event, args.events)
        started = time.perf_counter()
        producer.bus.relay.start()
        return await wait_for("relay", sent_count(producer), args.events) - started, producer


async def chassis_split(env: BenchEnv, args: argparse.Namespace) -> list[Stage]:
    """The relay alone, publishing as the chassis does and through FastStream's publish in
    alternating rounds (the median of each), then the consumer alone, draining what the
    first round of the chassis' relay published."""
    n = args.events
    ours: list[float] = []
    theirs: list[float] = []
    # Event types are letters only: the rounds are a, b, c...
    for index, round_ in enumerate("abcdefghi"[: args.rounds]):
        if index % 2:
            theirs.append((await relay_alone(env, args, f"split_fs_{round_}", True))[0])
        seconds, producer = await relay_alone(env, args, f"split_{round_}")
        ours.append(seconds)
        if not index % 2:
            theirs.append((await relay_alone(env, args, f"split_fs_{round_}", True))[0])
    async with AsyncExitStack() as stack:
        started = time.perf_counter()
        sink = await running(stack, consumer(env, "consumer_split_a", tick("split_a"), args))
        consume = await wait_for("inbox", inbox_count(sink), n) - started
    batch = f"batch {producer.settings.outbox_batch_size}"
    relay, through_faststream = sorted(ours)[len(ours) // 2], sorted(theirs)[len(theirs) // 2]
    return [
        Stage("relay alone (queue not consumed)", batch, n, relay, relay),
        Stage(
            "relay alone, publishing through FastStream",
            batch,
            n,
            through_faststream,
            through_faststream,
        ),
        Stage(
            "consumer alone (queue pre-filled)",
            f"prefetch {sink.settings.prefetch_count}",
            n,
            consume,
            consume,
        ),
    ]


# --- raw aio-pika -------------------------------------------------------------------------------


Effect = Callable[[AbstractIncomingMessage], Awaitable[None]]


async def raw_pipeline(
    env: BenchEnv,
    n: int,
    in_flight: int,
    prefetch: int,
    body: bytes,
    effect: Effect | None = None,
    consume: bool = True,
) -> tuple[float, float]:
    """(seconds until every publish was confirmed, seconds until every message was acked).

    Without `consume` the queue is left unconsumed and both figures are the publishing time.
    """
    queue_name = f"bench.raw.{uuid.uuid4().hex[:8]}"
    publisher = await aio_pika.connect(env.amqp_url)
    receiver = await aio_pika.connect(env.amqp_url)
    try:
        channel = await publisher.channel(publisher_confirms=True)
        inbound = await receiver.channel()
        await inbound.set_qos(prefetch_count=prefetch)
        queue = await inbound.declare_queue(queue_name, durable=True)
        received = 0
        done = asyncio.Event()

        async def on_message(message: AbstractIncomingMessage) -> None:
            nonlocal received
            if effect is not None:
                await effect(message)
            await message.ack()
            received += 1
            if received >= n:
                done.set()

        consumer_tag = await queue.consume(on_message) if consume else None
        window = asyncio.Semaphore(in_flight)

        async def publish(i: int) -> None:
            async with window:
                confirmation = await channel.default_exchange.publish(
                    aio_pika.Message(
                        body,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        message_id=f"{queue_name}-{i}",
                        content_type="application/json",
                    ),
                    routing_key=queue_name,
                    timeout=10,
                )
                if not isinstance(confirmation, Basic.Ack):
                    raise RuntimeError(f"not confirmed: {confirmation!r}")

        started = time.perf_counter()
        if in_flight == 1:
            for i in range(n):
                await publish(i)
        else:
            await asyncio.gather(*(publish(i) for i in range(n)))
        published = time.perf_counter() - started
        if consumer_tag is not None:
            async with asyncio.timeout(WAIT_LIMIT):
                await done.wait()
            await queue.cancel(consumer_tag)
        consumed = time.perf_counter() - started
        await queue.delete(if_unused=False, if_empty=False)
        return published, consumed
    finally:
        await publisher.close()
        await receiver.close()


def inbox_transaction(env: BenchEnv, client: AsyncMongoClient[dict[str, Any]]) -> Effect:
    """What the inbox does per message, without the chassis: one transaction, two writes."""
    db = client[env.db_name("raw_inbox")]

    async def effect(message: AbstractIncomingMessage) -> None:
        message_id = message.message_id or ""

        async def work(session: AsyncClientSession) -> None:
            await db["inbox"].insert_one(
                {"_id": f"raw:{message_id}", "received_at": datetime.now(UTC)}, session=session
            )
            await db["ticks"].update_one(
                {"_id": message_id}, {"$set": {"n": 1}}, upsert=True, session=session
            )

        async with client.start_session() as session:
            await session.with_transaction(work)

    return effect


def sample_body() -> bytes:
    event = tick("pipeline").model_validate({"n": 123456})
    envelope = Envelope.wrap(event, tenant_id="bench", actor_id="bench", correlation_id="x" * 32)
    return envelope.model_dump_json().encode()


# --- the run ------------------------------------------------------------------------------------


async def run(env: BenchEnv, args: argparse.Namespace) -> tuple[list[Stage], list[Stage]]:
    n = args.events
    defaults = ServiceSettings(service_name="defaults")
    prefetch = args.prefetch or defaults.prefetch_count
    window = args.batch_size or defaults.outbox_batch_size
    body = sample_body()
    seq_pub, seq_all = await raw_pipeline(env, n, 1, prefetch, body)
    # The baseline and the target alternate, and the median round of each is reported, so
    # that a burst of load on the machine does not decide the ratio.
    baselines: list[Stage] = []
    no_ops: list[Stage] = []
    awaiting: list[Stage] = []
    writing: list[Stage] = []
    for round_ in "abcdefghi"[: args.rounds]:
        con_pub, con_all = await raw_pipeline(env, n, window, prefetch, body)
        baselines.append(
            Stage(
                "raw aio-pika, concurrent publish [baseline]",
                f"{window} / prefetch {prefetch}",
                n,
                con_pub,
                con_all,
            )
        )
        no_ops.append(await chassis_pipeline(env, args, writes=None, round_=round_))
        awaiting.append(await chassis_pipeline(env, args, writes="awaited", round_=round_))
        writing.append(await chassis_pipeline(env, args, writes="deferred", round_=round_))
    main = [
        Stage("raw aio-pika, sequential publish", f"1 / prefetch {prefetch}", n, seq_pub, seq_all),
        median(baselines),
        median(no_ops),
        median(awaiting),
        median(writing),
    ]
    diagnostics: list[Stage] = []
    if not args.no_diagnostics:
        relay, faststream, sink = await chassis_split(env, args)
        pub, _ = await raw_pipeline(env, n, window, prefetch, body, consume=False)
        raw_publish = Stage("raw aio-pika publish alone", f"{window}", n, pub, pub)
        diagnostics += [relay, faststream, raw_publish, sink]
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(env.mongo_url)
        try:
            pub, total = await raw_pipeline(
                env, n, window, prefetch, body, inbox_transaction(env, client)
            )
        finally:
            await client.close()
        diagnostics.append(
            Stage(
                "raw aio-pika + inbox-like Mongo transaction",
                f"{window} / prefetch {prefetch}",
                n,
                pub,
                total,
            )
        )
    return main, diagnostics


def median(stages: list[Stage]) -> Stage:
    return sorted(stages, key=lambda stage: stage.rate)[len(stages) // 2]


def rows(stages: Sequence[Stage]) -> list[list[object]]:
    return [[s.name, s.in_flight, s.events, s.first_done, s.all_done, s.rate] for s in stages]


def report(main: list[Stage], diagnostics: list[Stage]) -> list[str]:
    """Print the tables and ratios; answer the target's verdict."""
    headers = ["pipeline", "in flight", "events", "published s", "consumed s", "events/s"]
    print(table(headers, rows(main)))
    print("('published s' is for the chassis the moment the relay had marked all of them sent;")
    print(" all but the sequential row are the median of alternating rounds: --rounds)")
    raw, no_op, awaiting, writing = main[1:5]
    ratio = writing.rate / raw.rate
    print(
        f"chassis with a handler deferring one write {writing.rate:,.0f} events/s vs raw "
        f"{raw.rate:,.0f} events/s (sequential raw: {main[0].rate:,.0f}/s): ratio {ratio:.1%}; "
        f"with a no-op handler: {no_op.rate:,.0f} events/s ({no_op.rate / raw.rate:.1%}); "
        f"awaiting its write: {awaiting.rate:,.0f} events/s ({awaiting.rate / raw.rate:.1%})"
    )
    if diagnostics:
        print()
        print("Where the time goes (same run, same event count):")
        print(table(headers, rows(diagnostics)))
    verdicts = [verdict("chassis events/s (one deferred write) / raw", ratio, TARGET)]
    print("\n".join(verdicts))
    return verdicts


def measure(env: BenchEnv, args: argparse.Namespace, cmd: str) -> list[str]:
    banner("Event throughput: outbox -> RabbitMQ -> inbox", cmd)
    main, diagnostics = asyncio.run(run(env, args))
    return report(main, diagnostics)


def main(argv: Sequence[str] | None = None) -> None:
    given = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(given)
    with bench_env() as env:
        measure(env, args, command("event_throughput.py", given))


if __name__ == "__main__":
    main()
