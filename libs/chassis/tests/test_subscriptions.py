"""Event subscriptions on the real RabbitMQ: delayed retry, dead-lettering, poison messages."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from datetime import UTC, datetime
from typing import ClassVar

import structlog

from chassis.messaging import subscriptions
from chassis.messaging.delivery import ATTEMPT_HEADER, DEAD_REASON_HEADER
from chassis.storage.inbox import INBOX
from chassis.storage.outbox import OUTBOX
from contracts import Envelope, TenantEvent


async def emit(node, *events):
    """Publish `events` from one transaction of `node`; their envelopes, as stored."""

    async def work(tx):
        for event in events:
            tx.publish(event)

    await node.uow.run(work, tenant_id="tenant-a", actor_id="user-a")
    stored = [
        Envelope.model_validate_json(row["body"]) async for row in node.mongo.raw(OUTBOX).find()
    ]
    wanted = [(e.event_type, e.model_dump(mode="json")) for e in events]
    return [env for env in stored if (env.type, env.data) in wanted]


async def counted(node) -> int:
    doc = await node.mongo.raw("counters").find_one({"_id": "applied"})
    return doc["n"] if doc else 0


async def increment(tx) -> None:
    await tx.collection("counters").update_one({"_id": "applied"}, {"$inc": {"n": 1}}, upsert=True)


def counting(calls: list, failures: int = 0):
    """A handler that records each call's attempt, fails `failures` times, then counts."""

    async def handler(tx, event, context):
        calls.append((time.monotonic(), structlog.contextvars.get_contextvars().get("attempt")))
        if len(calls) <= failures:
            raise RuntimeError(f"failure {len(calls)}")
        await increment(tx)

    return handler


async def test_failing_handler_is_retried_after_a_delay_and_applied_once(
    make_node, make_event, amqp, chassis_log, eventually
):
    happened = make_event()
    node = make_node("subs", retry_delay_ms=200, max_delivery_attempts=5)
    calls: list = []
    node.subscriptions.on_event(happened, name="flaky", handler=counting(calls, failures=2))
    await node.start()
    queue = f"{node.settings.service_name}.flaky"

    await emit(node, happened(n=1))
    await eventually(lambda: counted(node))

    assert [attempt for _, attempt in calls] == [1, 2, 3]
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(calls)]
    assert all(gap >= 0.18 for gap in gaps), gaps  # waited in `.retry`, not requeued at once
    retries = chassis_log.named("message.retry_scheduled")
    assert [r["attempt"] for r in retries] == [1, 2]
    assert all(r["queue"] == queue for r in retries)
    await asyncio.sleep(0.3)
    assert len(calls) == 3
    assert await counted(node) == 1
    for name in (queue, f"{queue}.retry", f"{queue}.dlq"):
        assert await amqp.count(name) == 0, name


async def test_handler_that_always_fails_is_dead_lettered_after_max_attempts(
    make_node, make_event, amqp, chassis_log, eventually
):
    happened = make_event()
    node = make_node("subs", max_delivery_attempts=3)
    calls: list = []
    node.subscriptions.on_event(happened, name="broken", handler=counting(calls, failures=99))
    await node.start()
    queue = f"{node.settings.service_name}.broken"

    [envelope] = await emit(node, happened(n=1))
    [dead] = await amqp.take(f"{queue}.dlq", 1)

    assert [attempt for _, attempt in calls] == [1, 2, 3]
    assert dead.message_id == str(envelope.id)
    assert json.loads(dead.body) == json.loads(envelope.model_dump_json())
    assert dead.headers[ATTEMPT_HEADER] == 3
    assert "gave up after 3 attempts" in dead.headers[DEAD_REASON_HEADER]
    assert "failure 3" in dead.headers[DEAD_REASON_HEADER]
    [logged] = chassis_log.named("message.dead_lettered")
    assert "gave up after 3 attempts" in logged["reason"]
    assert logged["message_id"] == str(envelope.id)
    await asyncio.sleep(0.3)
    assert len(calls) == 3
    assert await counted(node) == 0
    assert await node.mongo.raw(INBOX).count_documents({}) == 0
    for name in (queue, f"{queue}.retry", f"{queue}.dlq"):
        assert await amqp.count(name) == 0, name


def envelope_dict(event_type: str, data: dict) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "correlation_id": "corr-1",
        "data": data,
    }


async def test_malformed_messages_go_straight_to_the_dlq_without_the_handler(
    make_node, make_event, amqp, chassis_log, eventually
):
    happened = make_event()
    other = make_event()
    node = make_node("subs", max_delivery_attempts=5)
    calls: list = []
    node.subscriptions.on_event(happened, name="strict", handler=counting(calls))
    await node.start()
    queue = f"{node.settings.service_name}.strict"

    malformed = {
        "not-json": (b"{this is not json", "invalid Envelope"),
        "not-utf8": (b"\xff\xfe\x00", "invalid Envelope"),
        "wrong-schema": (json.dumps({"id": "nope", "data": {}}).encode(), "invalid Envelope"),
        "bad-data": (
            json.dumps(envelope_dict(happened.event_type, {"n": "many"})).encode(),
            "n",
        ),
        "extra-data": (
            json.dumps(envelope_dict(happened.event_type, {"n": 1, "x": 2})).encode(),
            "x",
        ),
        "wrong-type": (
            json.dumps(envelope_dict(other.event_type, {"n": 1})).encode(),
            other.event_type,
        ),
    }
    for message_id, (body, _) in malformed.items():
        await amqp.publish(
            happened.event_type, body, message_id=message_id, content_type="application/json"
        )

    dead = await amqp.take(f"{queue}.dlq", len(malformed))
    assert {m.message_id for m in dead} == set(malformed)
    for message in dead:
        body, reason = malformed[message.message_id]
        assert message.body == body
        assert reason in message.headers[DEAD_REASON_HEADER], message.message_id
    logged = {r["message_id"]: r["reason"] for r in chassis_log.named("message.dead_lettered")}
    assert set(logged) == set(malformed)
    for message_id, (_, reason) in malformed.items():
        assert reason in logged[message_id], (message_id, logged[message_id])
    assert all(r["attempt"] == 1 for r in chassis_log.named("message.dead_lettered"))
    assert chassis_log.named("message.retry_scheduled") == []
    assert calls == []

    # The subscription still works for well-formed events.
    await emit(node, happened(n=1))
    await eventually(lambda: calls)
    assert await amqp.count(f"{queue}.dlq") == 0


async def test_batches_run_side_by_side_and_stop_lets_them_finish(
    make_node, make_event, amqp, eventually
):
    happened = make_event()
    # A prefetch of two makes batches of one event, so how the five arrive cannot put them
    # all in one batch.
    node = make_node("subs", prefetch_count=2)
    running = 0
    most = 0
    finished = []

    async def slow(tx, event, context):
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.4)
        running -= 1
        finished.append(event.n)

    node.subscriptions.on_event(happened, name="slow", handler=slow)
    await node.start()
    queue = f"{node.settings.service_name}.slow"
    for n in range(5):
        await emit(node, happened(n=n))
    # Two batches run side by side, never more.
    await eventually(lambda: most == 2)

    await eventually(lambda: finished)

    # Stopping waits for the events in flight; any not yet begun go back to the queue.
    await node.stop()
    assert running == 0
    assert most == 2
    assert len(finished) == len(set(finished))
    assert len(finished) + await amqp.count(queue) == 5


async def test_events_are_applied_in_batches_and_a_bad_one_does_not_hold_back_the_rest(
    make_node, make_event, amqp, chassis_log, eventually, monkeypatch
):
    happened = make_event()
    node = make_node("subs", retry_delay_ms=100, max_delivery_attempts=2)
    applied: list[int] = []
    batch_sizes: list[int] = []

    async def handler(tx, event, context):
        if event.n == 13:
            raise RuntimeError("thirteen")
        applied.append(event.n)
        await increment(tx)

    real_apply = subscriptions.apply_each_once

    async def recording_apply(uow, consumer, effects):
        batch_sizes.append(len(effects))
        return await real_apply(uow, consumer, effects)

    monkeypatch.setattr(subscriptions, "apply_each_once", recording_apply)
    node.subscriptions.on_event(happened, name="mixed", handler=handler)
    queue = f"{node.settings.service_name}.mixed"
    await node.start()

    await emit(node, *(happened(n=n) for n in range(40)))

    async def dead_lettered() -> bool:
        return await amqp.count(f"{queue}.dlq") == 1

    await eventually(dead_lettered, timeout=10)
    await eventually(lambda: len(set(applied)) == 39)
    await asyncio.sleep(0.3)
    # Handlers of the taken-apart batch ran twice, but its transaction was rolled back:
    # what was written, was written once.
    assert set(applied) == {n for n in range(40) if n != 13}
    assert await counted(node) == 39
    assert chassis_log.named("events.batch_failed"), "thirteen's batch was taken apart"
    assert max(batch_sizes) > 1, "events waiting together were applied together"


async def test_a_tenant_event_naming_no_tenant_is_dead_lettered_and_the_handler_never_sees_it(
    make_node, amqp, chassis_log, eventually
):
    # Routing keys are letters only: a unique one from a uuid's hex digits, as letters.
    routing_key = (
        uuid.uuid4().hex.translate(str.maketrans("0123456789", "ghijklmnop")) + ".assigned"
    )

    class Assigned(TenantEvent):
        event_type: ClassVar[str] = routing_key

        n: int

    node = make_node("subs")
    seen: list = []

    async def handler(tx, event, context):
        seen.append(context.tenant_id)

    node.subscriptions.on_event(Assigned, handler)
    await node.start()
    queue = f"{node.settings.service_name}.assigned"
    for message_id, tenant in (("anonymous", None), ("named", "tenant-a")):
        body = {**envelope_dict(routing_key, {"n": 1}), "tenant_id": tenant}
        await amqp.publish(routing_key, json.dumps(body).encode(), message_id=message_id)

    [dead] = await amqp.take(f"{queue}.dlq", 1)
    assert dead.message_id == "anonymous"
    assert "names no tenant" in dead.headers[DEAD_REASON_HEADER]
    await eventually(lambda: seen)
    assert seen == ["tenant-a"]


async def test_events_handled_alone_run_side_by_side_outside_transactions(
    make_node, make_event, amqp, eventually
):
    happened = make_event()
    node = make_node("subs", retry_delay_ms=100, max_delivery_attempts=3)
    running = 0
    most = 0
    attempts: dict[int, list[int]] = {}

    async def handler(event, context):
        nonlocal running, most
        attempt = structlog.contextvars.get_contextvars().get("attempt")
        attempts.setdefault(event.n, []).append(attempt)
        assert context.tenant_id == "tenant-a"
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.2)
        running -= 1
        if event.n == 0:
            raise RuntimeError("always")
        if event.n == 1:
            raise subscriptions.PoisonMessage("never can be")

    node.subscriptions.on_event_alone(happened, handler, name="alone")
    await node.start()
    queue = f"{node.settings.service_name}.alone"

    await emit(node, *(happened(n=n) for n in range(5)))

    dead = {m.headers[DEAD_REASON_HEADER] for m in await amqp.take(f"{queue}.dlq", 2)}
    assert any("gave up after 3 attempts" in reason and "always" in reason for reason in dead)
    assert "never can be" in dead
    await eventually(lambda: len(attempts) == 5)
    # Every message was in hand at once, so they ran side by side, not one after another.
    assert most == 5
    assert attempts[0] == [1, 2, 3]
    assert attempts[1] == [1]  # a poison message is not retried
    assert all(attempts[n] == [1] for n in (2, 3, 4))
    # Nothing was written for them: no inbox, no transaction.
    assert await node.mongo.raw(INBOX).count_documents({}) == 0
    for name in (queue, f"{queue}.retry", f"{queue}.dlq"):
        assert await amqp.count(name) == 0, name
