"""Event subscriptions on the real RabbitMQ: delayed retry, dead-lettering, poison messages."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from datetime import UTC, datetime

import structlog

from chassis import messaging
from chassis.inbox import INBOX
from chassis.messaging import ATTEMPT_HEADER, DEAD_REASON_HEADER


def emit(event):
    async def work(tx):
        return tx.publish(event, tenant_id="tenant-a", actor_id="user-a")

    return work


async def counted(chassis) -> int:
    doc = await chassis.mongo.collection("counters").find_one({"_id": "applied"})
    return doc["n"] if doc else 0


def counting(chassis, calls: list, failures: int = 0):
    """A handler that records each call's attempt, fails `failures` times, then counts."""

    async def handler(tx, event, envelope):
        calls.append((time.monotonic(), structlog.contextvars.get_contextvars().get("attempt")))
        if len(calls) <= failures:
            raise RuntimeError(f"failure {len(calls)}")
        await chassis.mongo.collection("counters").update_one(
            {"_id": "applied"}, {"$inc": {"n": 1}}, upsert=True, session=tx.session
        )

    return handler


async def test_failing_handler_is_retried_after_a_delay_and_applied_once(
    make_chassis, make_event, amqp, chassis_log, eventually
):
    happened = make_event()
    chassis = make_chassis("subs", retry_delay_ms=200, max_delivery_attempts=5)
    calls: list = []
    chassis.subscriptions.on_event("flaky", happened, counting(chassis, calls, failures=2))
    await chassis.start()
    queue = f"{chassis.settings.service_name}.flaky"

    await chassis.uow.run(emit(happened(n=1)))
    await eventually(lambda: counted(chassis))

    assert [attempt for _, attempt in calls] == [1, 2, 3]
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(calls)]
    assert all(gap >= 0.18 for gap in gaps), gaps  # waited in `.retry`, not requeued at once
    retries = chassis_log.named("message.retry_scheduled")
    assert [r["attempt"] for r in retries] == [1, 2]
    assert all(r["queue"] == queue for r in retries)
    await asyncio.sleep(0.3)
    assert len(calls) == 3
    assert await counted(chassis) == 1
    for name in (queue, f"{queue}.retry", f"{queue}.dlq"):
        assert await amqp.count(name) == 0, name


async def test_handler_that_always_fails_is_dead_lettered_after_max_attempts(
    make_chassis, make_event, amqp, chassis_log, eventually
):
    happened = make_event()
    chassis = make_chassis("subs", max_delivery_attempts=3)
    calls: list = []
    chassis.subscriptions.on_event("broken", happened, counting(chassis, calls, failures=99))
    await chassis.start()
    queue = f"{chassis.settings.service_name}.broken"

    envelope = await chassis.uow.run(emit(happened(n=1)))
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
    assert await counted(chassis) == 0
    assert await chassis.mongo.collection(INBOX).count_documents({}) == 0
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
    make_chassis, make_event, amqp, chassis_log, eventually
):
    happened = make_event()
    other = make_event()
    chassis = make_chassis("subs", max_delivery_attempts=5)
    calls: list = []
    chassis.subscriptions.on_event("strict", happened, counting(chassis, calls))
    await chassis.start()
    queue = f"{chassis.settings.service_name}.strict"

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
    await chassis.uow.run(emit(happened(n=1)))
    await eventually(lambda: calls)
    assert await amqp.count(f"{queue}.dlq") == 0


async def test_batches_run_side_by_side_and_stop_lets_them_finish(
    make_chassis, make_event, amqp, eventually
):
    happened = make_event()
    chassis = make_chassis("subs")
    running = 0
    most = 0
    finished = []

    async def slow(tx, event, envelope):
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.4)
        running -= 1
        finished.append(event.n)

    chassis.subscriptions.on_event("slow", happened, slow)
    await chassis.start()
    queue = f"{chassis.settings.service_name}.slow"
    for n in range(5):
        await chassis.uow.run(emit(happened(n=n)))
    # Events of one batch share a transaction, so they run one after another; two batches
    # run side by side.
    await eventually(lambda: most == 2)

    await eventually(lambda: finished)

    # Stopping waits for the events in flight; any not yet begun go back to the queue.
    await chassis.stop()
    assert running == 0
    assert most == 2
    assert len(finished) == len(set(finished))
    assert len(finished) + await amqp.count(queue) == 5


async def test_events_are_applied_in_batches_and_a_bad_one_does_not_hold_back_the_rest(
    make_chassis, make_event, amqp, chassis_log, eventually, monkeypatch
):
    happened = make_event()
    chassis = make_chassis("subs", retry_delay_ms=100, max_delivery_attempts=2)
    applied: list[int] = []
    batch_sizes: list[int] = []

    async def handler(tx, event, envelope):
        if event.n == 13:
            raise RuntimeError("thirteen")
        applied.append(event.n)
        await chassis.mongo.collection("counters").update_one(
            {"_id": "applied"}, {"$inc": {"n": 1}}, upsert=True, session=tx.session
        )

    real_apply = messaging.apply_each_once

    async def recording_apply(uow, consumer, effects):
        batch_sizes.append(len(effects))
        return await real_apply(uow, consumer, effects)

    monkeypatch.setattr(messaging, "apply_each_once", recording_apply)
    chassis.subscriptions.on_event("mixed", happened, handler)
    queue = f"{chassis.settings.service_name}.mixed"
    await chassis.start()

    async def many(tx):
        for n in range(40):
            tx.publish(happened(n=n), tenant_id="tenant-a", actor_id="user-a")

    await chassis.uow.run(many)

    async def dead_lettered() -> bool:
        return await amqp.count(f"{queue}.dlq") == 1

    await eventually(dead_lettered, timeout=10)
    await eventually(lambda: len(set(applied)) == 39)
    await asyncio.sleep(0.3)
    # Handlers of the taken-apart batch ran twice, but its transaction was rolled back:
    # what was written, was written once.
    assert set(applied) == {n for n in range(40) if n != 13}
    assert await counted(chassis) == 39
    assert chassis_log.named("events.batch_failed"), "thirteen's batch was taken apart"
    assert max(batch_sizes) > 1, "events waiting together were applied together"
