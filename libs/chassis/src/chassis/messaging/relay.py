"""The outbox relay: events a unit of work stored are published to RabbitMQ, then marked sent.

A relay claims a batch of pending events with a lease, publishes them as persistent messages
with publisher confirms, then marks them sent. If the process dies between publishing and
marking, the lease runs out and another relay (or this one, restarted) publishes again: the
consumers' idempotent inbox makes that harmless. Delivery is at-least-once by design.

A unit of work in the relay's process stores its events already leased to the relay and
hands them over once committed (`lease`, `committed`): they are published from memory, with
no read nor claim of the outbox, and marked sent in bulk. The sweep, at least once per poll
interval, takes whatever is still pending with no live lease: events whose process died
before publishing them, events given back after a failed publish, events stored while the
relay was stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
from faststream.rabbit import RabbitBroker, RabbitExchange

from chassis.faults import FaultPoint, Faults
from chassis.logging import CORRELATION_ID_HEADER, REQUEST_ID_HEADER, get_logger
from chassis.messaging.broker import ensure_confirmed
from chassis.storage.leases import claim_batch, give_back
from chassis.storage.mongo import Mongo
from chassis.storage.outbox import OUTBOX, PENDING, SENT, Lease
from contracts import Envelope

log = get_logger(__name__)


@dataclass(frozen=True)
class OutgoingEvent:
    """One outbox row as it goes out: the body is the envelope's JSON."""

    id: str
    routing_key: str
    body: bytes
    correlation_id: str
    request_id: str | None

    @classmethod
    def of(cls, envelope: Envelope, request_id: str | None = None) -> OutgoingEvent:
        body = envelope.model_dump_json().encode()
        return cls(
            str(envelope.id), envelope.routing_key, body, envelope.correlation_id, request_id
        )

    def headers(self) -> dict[str, Any]:
        headers: dict[str, Any] = {CORRELATION_ID_HEADER: self.correlation_id}
        if self.request_id:
            headers[REQUEST_ID_HEADER] = self.request_id
        return headers


# Publishes one event persistent, returning once the broker confirmed it (raising if not).
Publish = Callable[[OutgoingEvent], Awaitable[None]]


def exchange_publisher(broker: RabbitBroker, exchange: RabbitExchange, app_id: str) -> Publish:
    """Publish on aio-pika's exchange object, as the broker declared it on its confirming
    channel, skipping FastStream's per-message publish pipeline: the relay is as fast or
    faster so, by up to a quarter (bench/event_throughput.py measures both)."""

    async def publish(event: OutgoingEvent) -> None:
        declared = await broker.declare_exchange(exchange)  # declared once, then cached
        message = aio_pika.Message(
            event.body,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=event.id,
            correlation_id=event.correlation_id,
            type=event.routing_key,
            content_type="application/json",
            headers=event.headers(),
            app_id=app_id,
        )
        # Not mandatory: an event no service subscribes to is dropped by RabbitMQ, as pub/sub
        # does; returned to us, it would fail the batch on every pass.
        confirmation = await declared.publish(
            message, event.routing_key, mandatory=False, timeout=10
        )
        ensure_confirmed(confirmation, f"event {event.id}")

    return publish


class OutboxRelay:
    # Handed-over events waiting beyond this many batches: later commits leave theirs to the
    # sweep rather than hold more in memory.
    HANDOFF_BATCHES = 10

    def __init__(
        self,
        mongo: Mongo,
        publish: Publish,
        *,
        batch_size: int = 200,
        lease: timedelta = timedelta(seconds=30),
        poll_interval: float = 0.5,
        workers: int = 2,
        faults: Faults | None = None,
    ) -> None:
        self._outbox = mongo.raw(OUTBOX)
        self._publish = publish
        self._batch_size = batch_size
        self._lease = lease
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        # Two batches in flight: one is claimed and published while the other waits for its
        # confirms and is marked, instead of the relay idling through every round trip.
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._owner = uuid.uuid4().hex
        self._faults = faults or Faults()
        self._handoff_owner = f"{self._owner}:handoff"
        self._handed: list[dict[str, Any]] = []
        self._sweep_requested = False
        self._next_sweep = 0.0

    def notify(self) -> None:
        """Sweep the outbox now rather than at the next poll."""
        self._sweep_requested = True
        self._wake.set()

    def lease(self) -> Lease | None:
        """The claim under which a commit stores the events it will hand over; None while the
        relay is not running or is behind, and the sweep is to take them."""
        if not self._tasks or self._stopping:
            return None
        if len(self._handed) >= self.HANDOFF_BATCHES * self._batch_size:
            return None
        return Lease(self._handoff_owner, datetime.now(UTC) + self._lease)

    def committed(self, rows: Sequence[dict[str, Any]]) -> None:
        """Rows a commit stored: publish them now, from memory if they were stored under
        `lease()`, else by sweeping the outbox."""
        if all(row.get("lease_owner") == self._handoff_owner for row in rows):
            self._handed.extend(rows)
            self._wake.set()
        else:
            self.notify()

    def start(self) -> None:
        self._stopping = False
        self._next_sweep = 0.0
        self._tasks = [
            asyncio.create_task(self._run(), name=f"outbox-relay-{n}") for n in range(self._workers)
        ]

    async def stop(self) -> None:
        # The flag ends the loops even if a library swallows the cancellation.
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._give_back_handed()

    async def _give_back_handed(self) -> None:
        """Events handed over but not yet taken: release their lease, for the next relay to
        sweep them at once instead of after the lease (if this fails, after it)."""
        left, self._handed = self._handed, []
        if not left:
            return
        try:
            await self._outbox.update_many(
                {"_id": {"$in": [row["_id"] for row in left]}, "lease_owner": self._handoff_owner},
                {"$unset": {"lease_owner": "", "lease_until": ""}},
            )
        except Exception as exc:
            log.warning("outbox.give_back_failed", error=repr(exc), events=len(left))

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            sweep = self._sweep_requested or time.monotonic() >= self._next_sweep
            try:
                relayed = await self._pass(sweep)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.warning("outbox.relay_failed", error=repr(exc), failures=failures)
                relayed = 0
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))
            if relayed < self._batch_size and not self._handed:
                # Not wait_for: on Python 3.11 it swallows a cancel that arrives together with
                # notify(), and stop() would then wait forever.
                wait = (
                    0.0 if self._sweep_requested else max(0.0, self._next_sweep - time.monotonic())
                )
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
                self._wake.clear()

    async def relay_once(self) -> int:
        """Publish and mark one batch (handed over, else claimed from the outbox); returns how
        many were published."""
        return await self._pass(sweep=True)

    async def _pass(self, sweep: bool) -> int:
        batch = self._take_handed()
        if not batch:
            if not sweep:
                return 0
            self._sweep_requested = False
            self._next_sweep = time.monotonic() + self._poll_interval
            batch = await self._claim()
            if len(batch) >= self._batch_size:
                # A full batch: more may be waiting, so the next pass sweeps again at once.
                self._next_sweep = 0.0
        if not batch:
            return 0
        self._faults.reached(FaultPoint.PAUSE_AFTER_CLAIM)
        results = await asyncio.gather(
            *(self._publish(_outgoing(doc)) for doc in batch), return_exceptions=True
        )
        sent = [doc["_id"] for doc, res in zip(batch, results, strict=True) if res is None]
        failed = [doc for doc, res in zip(batch, results, strict=True) if res is not None]
        coll = self._outbox
        if sent:
            self._faults.reached(FaultPoint.AFTER_PUBLISH_BEFORE_MARK)
            await coll.update_many(
                {"_id": {"$in": sent}},
                {
                    "$set": {"status": SENT, "sent_at": datetime.now(UTC)},
                    "$unset": {"lease_owner": "", "lease_until": ""},
                },
            )
        if failed:
            # Give the events back at once so the next attempt does not wait out the lease.
            await give_back(coll, failed)
            # Swept again at once, not after a poll interval.
            self._sweep_requested = True
            first = next(r for r in results if r is not None)
            raise RuntimeError(f"{len(failed)} outbox events not published") from first
        return len(sent)

    def _take_handed(self) -> list[dict[str, Any]]:
        batch = self._handed[: self._batch_size]
        del self._handed[: self._batch_size]
        return batch

    async def _claim(self) -> list[dict[str, Any]]:
        return await claim_batch(
            self._outbox,
            {"status": PENDING},
            owner=self._owner,
            lease=self._lease,
            limit=self._batch_size,
            order="created_at",
        )


def _outgoing(doc: dict[str, Any]) -> OutgoingEvent:
    return OutgoingEvent(
        doc["_id"],
        doc["routing_key"],
        doc["body"].encode(),
        doc["correlation_id"],
        doc.get("request_id"),
    )
