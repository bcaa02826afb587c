"""RabbitMQ through FastStream: one topic exchange, one durable queue per handler.

Every handler queue `<consumer>.<handler>` gets two companions:
- `<queue>.retry`: a wait queue whose messages expire back into the handler queue after a
  delay (delayed retry without a plugin);
- `<queue>.dlq`: bound to the dead-letter exchange; poison messages land here with the
  reason in their headers and in the log.

FastStream hands over one message at a time per subscriber and the chassis acks by hand:
events gather into batches applied in one transaction each (`_Batches`), commands each run
in a task of their own. The channel's prefetch bounds how many are in hand at once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from faststream import AckPolicy
from faststream.message import StreamMessage
from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from pydantic import BaseModel, ValidationError

from chassis.broker import dead_letter_exchange, ensure_confirmed, events_exchange
from chassis.inbox import Effect, apply_each_once, apply_once
from chassis.logging import CORRELATION_ID_HEADER, REQUEST_ID_HEADER, get_logger
from chassis.settings import ServiceSettings
from chassis.uow import Tx, UnitOfWork
from contracts import DomainEvent, Envelope

log = get_logger(__name__)

E = TypeVar("E", bound=DomainEvent)
EventHandler = Callable[[Tx, E, Envelope], Awaitable[None]]
Process = Callable[[RabbitMessage], Awaitable[None]]

ATTEMPT_HEADER = "x-attempt"
DEAD_REASON_HEADER = "x-dead-reason"


class PoisonMessage(Exception):
    """The message can never be handled (malformed, wrong schema): dead-letter it at once."""


@dataclass(frozen=True)
class _Queue:
    name: str
    routing_key: str
    exchange: RabbitExchange | None
    # Commands are not retried later: their sender is waiting and has a deadline.
    retry: bool = True

    def handler_queue(self, settings: ServiceSettings) -> RabbitQueue:
        return RabbitQueue(
            self.name,
            durable=True,
            routing_key=self.routing_key,
            arguments={
                "x-dead-letter-exchange": dead_letter_exchange(settings).name,
                "x-dead-letter-routing-key": self.name,
            },
        )


class Subscriptions:
    """Declares and runs this service's consumers; started with the broker."""

    def __init__(self, settings: ServiceSettings, broker: RabbitBroker, uow: UnitOfWork) -> None:
        self._settings = settings
        self._broker = broker
        self._uow = uow
        self._queues: list[_Queue] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def on_event(self, handler_name: str, event: type[E], handler: EventHandler[E]) -> None:
        """Consume `event` into queue `<service>.<handler_name>`, each event applied once."""
        queue = _Queue(
            f"{self._settings.service_name}.{handler_name}",
            event.event_type,
            events_exchange(self._settings),
        )

        def effect_of(message: RabbitMessage) -> tuple[str, Effect]:
            envelope = _parse(Envelope, message.body)
            try:
                data = envelope.payload(event)
            except (ValidationError, ValueError) as exc:
                raise PoisonMessage(str(exc)) from exc

            async def effect(tx: Tx) -> None:
                # Events the handler raises are caused by this one and share its correlation.
                with self._context(
                    queue,
                    message,
                    causation_id=str(envelope.id),
                    event_type=envelope.type,
                    tenant_id=envelope.tenant_id,
                ):
                    await handler(tx, data, envelope)

            return str(envelope.id), effect

        async def process(message: RabbitMessage) -> None:
            event_id, effect = effect_of(message)
            applied = await apply_once(self._uow, queue.name, event_id, effect)
            log.info("event.handled" if applied else "event.duplicate_skipped")

        batches = _Batches(self, queue, effect_of, process)
        self._add(queue, process, batches.add)

    def on_command(
        self,
        queue_name: str,
        command: type[BaseModel],
        handler: Callable[[Any], Awaitable[BaseModel]],
    ) -> None:
        """Answer commands sent to `queue_name` (default exchange) on their reply-to queue."""
        queue = _Queue(queue_name, queue_name, None, retry=False)

        async def process(message: RabbitMessage) -> None:
            reply = await handler(_parse(command, message.body))
            if message.reply_to:
                await self._broker.publish(
                    reply.model_dump_json().encode(),
                    routing_key=message.reply_to,
                    correlation_id=message.correlation_id,
                    content_type="application/json",
                    mandatory=False,
                )

        self._add(queue, process)

    def _add(
        self,
        queue: _Queue,
        process: Process,
        accept: Callable[[RabbitMessage], None] | None = None,
    ) -> None:
        """Consume `queue`: each message goes to `accept`, or by default to its own task."""
        self._queues.append(queue)
        handler_queue = queue.handler_queue(self._settings)

        async def receive(message: RabbitMessage) -> None:
            if accept is not None:
                accept(message)
            else:
                self._spawn(self._handle(queue, message, process))

        self._broker.subscriber(
            handler_queue,
            queue.exchange,
            ack_policy=AckPolicy.MANUAL,
            no_reply=True,
            # The handler gets the message itself and the chassis parses the body: left to
            # FastStream, a body that is not the JSON its content type claims fails before
            # `receive` and is never acked or rejected.
            decoder=_the_message,
        )(receive)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _context(
        queue: _Queue, message: RabbitMessage, **extra: object
    ) -> AbstractContextManager[None]:
        """Log context of one message: its request and correlation ids, queue and attempt."""
        return structlog.contextvars.bound_contextvars(**_message_fields(queue, message), **extra)

    async def _handle(self, queue: _Queue, message: RabbitMessage, process: Process) -> None:
        """Process one message: ack, retry later, or dead-letter it."""
        attempt = _attempt(message)
        with self._context(queue, message):
            try:
                await process(message)
            except PoisonMessage as exc:
                await self._dead_letter(queue, message, str(exc))
                return
            except Exception as exc:
                if not queue.retry or attempt >= self._settings.max_delivery_attempts:
                    await self._dead_letter(
                        queue, message, f"gave up after {attempt} attempts: {exc!r}"
                    )
                else:
                    log.warning("message.retry_scheduled", error=repr(exc))
                    await self._retry_later(queue, message, attempt)
                return
            await message.ack()

    async def _retry_later(self, queue: _Queue, message: RabbitMessage, attempt: int) -> None:
        raw = message.raw_message
        confirmation = await self._broker.publish(
            message.body,
            routing_key=f"{queue.name}.retry",
            persist=True,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            content_type=message.content_type,
            message_type=raw.type,
            reply_to=message.reply_to or None,
            headers={**(message.headers or {}), ATTEMPT_HEADER: attempt + 1},
        )
        ensure_confirmed(confirmation, f"the retry of {message.message_id}")
        await message.ack()

    async def _dead_letter(self, queue: _Queue, message: RabbitMessage, reason: str) -> None:
        """Put a copy carrying the reason on `<queue>.dlq`, then ack the original.

        A reject cannot add headers; it is the fallback when the copy cannot be published
        (the message still reaches the DLQ through the queue's dead-letter exchange).
        """
        log.error("message.dead_lettered", reason=reason)
        raw = message.raw_message
        try:
            confirmation = await self._broker.publish(
                message.body,
                exchange=dead_letter_exchange(self._settings),
                routing_key=queue.name,
                persist=True,
                message_id=message.message_id,
                correlation_id=message.correlation_id,
                content_type=message.content_type,
                message_type=raw.type,
                headers={**(raw.headers or {}), DEAD_REASON_HEADER: reason[:1000]},
            )
            ensure_confirmed(confirmation, f"the dead letter {message.message_id}")
        except Exception as exc:
            log.warning("message.dead_letter_copy_failed", error=repr(exc))
            await message.reject(requeue=False)
            return
        await message.ack()

    async def declare(self) -> None:
        """Declare what FastStream does not: the dead-letter queues and the retry queues."""
        dlx = await self._broker.declare_exchange(dead_letter_exchange(self._settings))
        await self._broker.declare_exchange(events_exchange(self._settings))
        for queue in self._queues:
            dlq = await self._broker.declare_queue(RabbitQueue(f"{queue.name}.dlq", durable=True))
            await dlq.bind(dlx, routing_key=queue.name)
            if not queue.retry:
                continue
            await self._broker.declare_queue(
                RabbitQueue(
                    f"{queue.name}.retry",
                    durable=True,
                    arguments={
                        "x-message-ttl": self._settings.retry_delay_ms,
                        "x-dead-letter-exchange": "",
                        "x-dead-letter-routing-key": queue.name,
                    },
                )
            )

    async def drain(self, timeout: float = 10.0) -> None:
        """Let handlers in flight finish; what does not finish is redelivered later."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)


M = TypeVar("M", bound=BaseModel)


class _Batches:
    """Applies the events waiting in one queue together, one transaction per batch.

    While a batch commits, the next deliveries wait here and form the next batch. A batch that
    is not full lingers a few milliseconds for more (`consumer_linger_ms`): without it a
    consumer that keeps up commits one transaction per event or two, and spends most of its
    time committing. A batch that fails is taken apart and each event goes the single way,
    with its own retries.
    """

    WORKERS = 2

    def __init__(
        self,
        subscriptions: Subscriptions,
        queue: _Queue,
        effect_of: Callable[[RabbitMessage], tuple[str, Effect]],
        process: Process,
    ) -> None:
        self._subs = subscriptions
        self._queue = queue
        self._effect_of = effect_of
        self._process = process
        self._max = max(1, subscriptions._settings.prefetch_count // self.WORKERS)
        self._linger = subscriptions._settings.consumer_linger_ms / 1000
        self._waiting: list[RabbitMessage] = []
        self._workers = 0

    def add(self, message: RabbitMessage) -> None:
        self._waiting.append(message)
        if self._workers < self.WORKERS:
            self._workers += 1
            self._subs._spawn(self._drain())

    async def _drain(self) -> None:
        try:
            while self._waiting:
                if len(self._waiting) < self._max and self._linger:
                    await asyncio.sleep(self._linger)
                batch = self._waiting[: self._max]
                del self._waiting[: self._max]
                if batch:  # the other worker may have taken them while this one lingered
                    await self._apply(batch)
        finally:
            self._workers -= 1

    async def _apply(self, batch: list[RabbitMessage]) -> None:
        subs, queue = self._subs, self._queue
        if len(batch) == 1:
            await subs._handle(queue, batch[0], self._process)
            return
        parsed: list[tuple[RabbitMessage, tuple[str, Effect]]] = []
        for message in batch:
            try:
                parsed.append((message, self._effect_of(message)))
            except PoisonMessage as exc:
                with subs._context(queue, message):
                    await subs._dead_letter(queue, message, str(exc))
        try:
            applied = await apply_each_once(subs._uow, queue.name, [e for _, e in parsed])
        except Exception as exc:
            log.warning("events.batch_failed", queue=queue.name, error=repr(exc))
            for message, _ in parsed:
                await subs._handle(queue, message, self._process)
            return
        for (message, _), fresh in zip(parsed, applied, strict=True):
            log.info(
                "event.handled" if fresh else "event.duplicate_skipped",
                **_message_fields(queue, message),
            )
            await message.ack()


def _attempt(message: RabbitMessage) -> int:
    return int((message.headers or {}).get(ATTEMPT_HEADER, 1))


def _message_fields(queue: _Queue, message: RabbitMessage) -> dict[str, Any]:
    headers = message.headers or {}
    correlation_id = headers.get(CORRELATION_ID_HEADER) or message.correlation_id
    return {
        # A message caused by no request is traced by its correlation id alone.
        "request_id": headers.get(REQUEST_ID_HEADER) or correlation_id,
        "correlation_id": correlation_id,
        "queue": queue.name,
        "message_id": message.message_id,
        "attempt": _attempt(message),
    }


async def _the_message(message: StreamMessage[Any]) -> StreamMessage[Any]:
    return message


def _parse(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise PoisonMessage(f"invalid {model.__name__}: {_summary(exc)}") from exc


def _summary(exc: ValidationError) -> str:
    return json.dumps(
        [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()]
    )
