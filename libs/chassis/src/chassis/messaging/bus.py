"""The messaging part of a service: RabbitMQ through FastStream, started and stopped with it.

FastStream keeps the connection (reconnecting), declares exchanges and queues, and runs
the consumers; the chassis acks by hand (delivery.py). aio-pika, under FastStream, is used
directly where FastStream's per-message pipeline or its request lock would cost throughput:
the relay's publishing and the command reply queue (relay.py, commands.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from faststream import AckPolicy
from faststream.message import StreamMessage
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.subscriber import RabbitSubscriber

from chassis.config import MessagingSettings
from chassis.faults import Faults
from chassis.messaging.batching import Batcher
from chassis.messaging.broker import create_broker
from chassis.messaging.commands import CommandBus
from chassis.messaging.delivery import Delivery
from chassis.messaging.relay import OutboxRelay, Publish, exchange_publisher
from chassis.messaging.subscriptions import Subscriptions
from chassis.messaging.topology import HandlerQueue, Topology
from chassis.parts import Check
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import MongoUnitOfWork
from chassis.tasks import Tasks

TxT = TypeVar("TxT")
# How long stopping waits for handlers in flight; what does not finish is redelivered later.
DRAIN_SECONDS = 10.0


class BrokerDown(Exception):
    pass


class MessageBus:
    def __init__(
        self,
        settings: MessagingSettings,
        mongo: Mongo,
        *,
        broker: RabbitBroker | None = None,
        publish: Publish | None = None,
    ) -> None:
        """The outbox of `mongo` is relayed; `broker` and the relay's `publish` default to
        the RabbitMQ of `settings` and publishing on aio-pika's exchange object."""
        self.service_name = settings.service_name
        self.broker = broker or create_broker(settings)
        self.topology = Topology(settings)
        self.delivery = Delivery(
            self.broker, self.topology.dead_letter, settings.max_delivery_attempts
        )
        self.tasks = Tasks()
        self.faults = Faults(settings.fault_point)
        # Batches applied side by side hold, together, what the prefetch allows in hand.
        self.batch_size = max(1, settings.prefetch_count // Batcher.WORKERS)
        self.linger_seconds = settings.consumer_linger_ms / 1000
        self.relay = OutboxRelay(
            mongo,
            publish or exchange_publisher(self.broker, self.topology.events, settings.service_name),
            batch_size=settings.outbox_batch_size,
            lease=timedelta(seconds=settings.outbox_lease_seconds),
            poll_interval=settings.outbox_poll_seconds,
            faults=self.faults,
        )
        self.commands = CommandBus(self.broker, settings.service_name)
        self._subscribers: list[RabbitSubscriber] = []

    def subscriptions(self, uow: MongoUnitOfWork[TxT]) -> Subscriptions[TxT]:
        """Where the service lists what it consumes; handlers run in `uow`'s transactions."""
        return Subscriptions(self, uow)

    def consume(self, queue: HandlerQueue, receive: Callable[[RabbitMessage], None]) -> None:
        """Hand every message of `queue` to `receive`, which must settle it (see Delivery)."""
        subscriber = self.broker.subscriber(
            self.topology.add(queue),
            queue.exchange,
            ack_policy=AckPolicy.MANUAL,
            no_reply=True,
            # The chassis parses the body itself: left to FastStream, a body that is not the
            # JSON its content type claims fails before `receive` and is never settled.
            decoder=_undecoded,
        )

        async def take(message: RabbitMessage) -> None:
            receive(message)

        subscriber(take)
        self._subscribers.append(subscriber)

    async def start(self) -> None:
        await self.broker.connect()
        await self.topology.declare(self.broker)
        await self.broker.start()
        await self.commands.start()
        self.relay.start()

    async def stop(self) -> None:
        await self.relay.stop()
        # Take no more messages, let those in hand finish, then disconnect.
        for subscriber in self._subscribers:
            await subscriber.stop()
        await self.tasks.drain(DRAIN_SECONDS)
        await self.broker.stop()

    async def _ping(self) -> None:
        if not await self.broker.ping(timeout=1.0):
            raise BrokerDown("broker does not answer")

    def checks(self) -> Mapping[str, Check]:
        return {"broker": self._ping}


async def _undecoded(message: StreamMessage[Any]) -> StreamMessage[Any]:
    return message
