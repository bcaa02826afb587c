"""A service's subscriptions: the events it applies and the commands it answers.

An event handler gets the service's own transaction object, scoped to the event's tenant and
actor, the typed event, and its context; it writes only through that transaction, since a
batch of events shares one (rolled back and taken apart if any of them fails). Each event is
applied once per handler: its id goes into the inbox in the same transaction as its effect.
An event whose effect lies outside the database (an email sent over SMTP) cannot share a
transaction, least of all a batch's: `on_event_alone` hands each such event to its handler on
its own, in no transaction and with no inbox, so the handler must make itself idempotent (by
the state it keeps).
A command handler gets the typed command and returns its reply, sent to the reply-to queue;
a command already past its deadline is acknowledged and dropped, unanswered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import structlog
from faststream.rabbit.annotations import RabbitMessage
from pydantic import BaseModel

from chassis.clock import utc_now
from chassis.faults import FaultPoint
from chassis.logging import get_logger
from chassis.messaging.batching import Batcher
from chassis.messaging.delivery import (
    PoisonMessage,
    message_context,
    message_fields,
    parse,
)
from chassis.messaging.topology import HandlerQueue
from chassis.storage.inbox import INBOX, INBOX_INDEXES, Effect, apply_each_once, apply_once
from chassis.storage.unit_of_work import MongoUnitOfWork, Transaction
from contracts import Command, Envelope, IntegrationEvent, TenantEvent

if TYPE_CHECKING:
    from chassis.messaging.bus import MessageBus

log = get_logger(__name__)

TxT = TypeVar("TxT")
E = TypeVar("E", bound=IntegrationEvent)
T = TypeVar("T", bound=TenantEvent)
C = TypeVar("C", bound=Command[Any])


@dataclass(frozen=True)
class EventContext:
    event_id: str
    occurred_at: datetime
    tenant_id: str | None
    actor_id: str | None
    correlation_id: str


@dataclass(frozen=True)
class TenantEventContext(EventContext):
    """The context of a tenant's event: its envelope was refused unless it named the tenant."""

    tenant_id: str


def context_of(envelope: Envelope) -> EventContext:
    """What an event handler is told of the envelope its event came in."""
    event_id, actor, correlation = str(envelope.id), envelope.actor_id, envelope.correlation_id
    if envelope.tenant_id:
        return TenantEventContext(
            event_id, envelope.occurred_at, envelope.tenant_id, actor, correlation
        )
    return EventContext(event_id, envelope.occurred_at, None, actor, correlation)


class Subscriptions(Generic[TxT]):
    def __init__(self, bus: MessageBus, uow: MongoUnitOfWork[TxT]) -> None:
        self._bus = bus
        self._uow = uow
        uow.declare_indexes({INBOX: INBOX_INDEXES})

    @overload
    def on_event(
        self,
        event: type[T],
        handler: Callable[[TxT, T, TenantEventContext], Awaitable[None]],
        *,
        name: str | None = None,
    ) -> None: ...

    @overload
    def on_event(
        self,
        event: type[E],
        handler: Callable[[TxT, E, EventContext], Awaitable[None]],
        *,
        name: str | None = None,
    ) -> None: ...

    def on_event(
        self,
        event: type[E],
        handler: Callable[[TxT, E, Any], Awaitable[None]],
        *,
        name: str | None = None,
    ) -> None:
        """Apply `event` through `handler`, from the queue `<service>.<name>`; `name`
        defaults to the event's (`car_registered` for `cars.car_registered`)."""
        queue = self._event_queue(event, name)

        def effect_of(message: RabbitMessage) -> tuple[str, Effect]:
            envelope, data, context = _received(event, message)

            async def effect(tx: Transaction[Any]) -> None:
                # Events the handler raises are caused by this one and share its correlation.
                with message_context(
                    queue,
                    message,
                    causation_id=context.event_id,
                    event_type=envelope.type,
                    tenant_id=envelope.tenant_id,
                ):
                    await handler(tx.scope(envelope.tenant_id, envelope.actor_id), data, context)

            return context.event_id, effect

        async def one(message: RabbitMessage) -> None:
            event_id, effect = effect_of(message)
            applied = await apply_once(self._uow, queue.name, event_id, effect)
            # Delivery.handle acknowledges once this returns.
            self._bus.faults.reached(FaultPoint.AFTER_COMMIT_BEFORE_ACK)
            log.info("event.handled" if applied else "event.duplicate_skipped")

        async def batch(messages: list[RabbitMessage]) -> None:
            if len(messages) == 1:
                await self._bus.delivery.handle(queue, messages[0], one)
                return
            parsed: list[tuple[RabbitMessage, tuple[str, Effect]]] = []
            for message in messages:
                try:
                    parsed.append((message, effect_of(message)))
                except PoisonMessage as exc:
                    with message_context(queue, message):
                        await self._bus.delivery.dead_letter(queue, message, str(exc))
            try:
                applied = await apply_each_once(self._uow, queue.name, [e for _, e in parsed])
            except Exception as exc:
                # Taken apart: each event goes the single way, with its own retries.
                log.warning("events.batch_failed", queue=queue.name, error=repr(exc))
                for message, _ in parsed:
                    await self._bus.delivery.handle(queue, message, one)
                return
            self._bus.faults.reached(FaultPoint.AFTER_COMMIT_BEFORE_ACK)
            for (message, _), fresh in zip(parsed, applied, strict=True):
                outcome = "event.handled" if fresh else "event.duplicate_skipped"
                log.info(outcome, **message_fields(queue, message))
                await message.ack()

        batcher = Batcher(
            batch,
            max_size=self._bus.batch_size,
            linger_seconds=self._bus.linger_seconds,
            tasks=self._bus.tasks,
        )
        self._bus.consume(queue, batcher.add)

    def on_event_alone(
        self,
        event: type[E],
        handler: Callable[[E, EventContext], Awaitable[None]],
        *,
        name: str | None = None,
    ) -> None:
        """Hand each `event` to `handler` on its own, outside any transaction and with no
        inbox (queue `<service>.<name>`, with its retry and dead-letter queues): for effects
        outside the database, which a rolled-back batch could not undo. Messages in hand (the
        prefetch) are handled side by side; the handler is idempotent by its own state."""
        queue = self._event_queue(event, name)

        async def process(message: RabbitMessage) -> None:
            envelope, data, context = _received(event, message)
            with structlog.contextvars.bound_contextvars(
                causation_id=context.event_id, event_type=envelope.type
            ):
                await handler(data, context)
            log.info("event.handled")

        def receive(message: RabbitMessage) -> None:
            self._bus.tasks.spawn(self._bus.delivery.handle(queue, message, process))

        self._bus.consume(queue, receive)

    def _event_queue(self, event: type[IntegrationEvent], name: str | None) -> HandlerQueue:
        """`<service>.<name>`; `name` defaults to the event's (`car_registered`)."""
        return HandlerQueue(
            f"{self._bus.service_name}.{name or event.event_type.split('.', 1)[1]}",
            event.event_type,
            self._bus.topology.events,
        )

    def on_command(self, command: type[C], handler: Callable[[C], Awaitable[BaseModel]]) -> None:
        """Answer `command` from its queue; the reply goes to the sender's reply-to queue."""
        queue = HandlerQueue(command.queue, command.queue, None, retry=False)

        async def process(message: RabbitMessage) -> None:
            received = parse(command, message.body)
            if received.expired(utc_now()):
                # Its sender stopped waiting and may be undoing what it asked: not acted on.
                # A handler whose effect must not land late checks again in its transaction.
                log.warning("command.expired", deadline=str(received.deadline))
                return
            reply = await handler(received)
            if not isinstance(reply, command.reply):
                raise TypeError(f"{command.__name__} is answered with {command.reply.__name__}")
            if message.reply_to:
                await self._bus.broker.publish(
                    reply.model_dump_json().encode(),
                    routing_key=message.reply_to,
                    correlation_id=message.correlation_id,
                    content_type="application/json",
                    mandatory=False,
                )

        def receive(message: RabbitMessage) -> None:
            # Each in a task of its own: the sender waits, and commands do not share commits.
            self._bus.tasks.spawn(self._bus.delivery.handle(queue, message, process))

        self._bus.consume(queue, receive)


def _received(event: type[E], message: RabbitMessage) -> tuple[Envelope, E, EventContext]:
    """The message's envelope, its `event` and context; PoisonMessage when it holds none."""
    envelope = parse(Envelope, message.body)
    try:
        data = envelope.payload(event)
    except ValueError as exc:
        raise PoisonMessage(str(exc)) from exc
    return envelope, data, context_of(envelope)
