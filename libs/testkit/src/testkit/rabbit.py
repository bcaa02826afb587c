"""RabbitMQ's own account of a vhost, for tests that must not count with the code under test.

How many messages wait in a queue is RabbitMQ's count (a passive declare); how many copies of
an event were published is what a queue of the test's own, bound to the exchange, received:
neither comes from the publisher's outbox or the consumer's inbox.

    async with Rabbit.connect(amqp_url) as rabbit:
        copies = await rabbit.tap("domain_events", "cars.car_registered")
        ...
        assert copies[event_id] == 2 and await rabbit.waiting("bookings.car_registered") == 0
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage


class Rabbit:
    def __init__(self, connection: AbstractConnection) -> None:
        self._connection = connection

    @classmethod
    @asynccontextmanager
    async def connect(cls, amqp_url: str) -> AsyncIterator[Rabbit]:
        connection = await aio_pika.connect(amqp_url)
        try:
            yield cls(connection)
        finally:
            await connection.close()

    async def waiting(self, queue: str) -> int:
        """Messages ready in `queue` (those a consumer holds unacknowledged are not counted;
        a consumer that died gives its back)."""
        # A channel per question: RabbitMQ closes the channel of a failed passive declare.
        async with self._connection.channel() as channel:
            declared = await channel.get_queue(queue, ensure=True)
            return declared.declaration_result.message_count or 0

    async def tap(self, exchange: str, routing_key: str) -> Counter[str]:
        """Copies of every message published to `exchange` with `routing_key` from now on, by
        message id (an event's id), counted as they arrive until the connection closes."""
        copies: Counter[str] = Counter()
        channel = await self._connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(await channel.get_exchange(exchange), routing_key)

        async def received(message: AbstractIncomingMessage) -> None:
            copies[message.message_id or ""] += 1

        await queue.consume(received, no_ack=True)
        return copies

    async def watch(self, exchange: str, routing_key: str) -> list[AbstractIncomingMessage]:
        """Every message published to `exchange` with `routing_key` from now on, in the order
        they arrive, until the connection closes (`tap`, keeping the messages themselves)."""
        received: list[AbstractIncomingMessage] = []
        channel = await self._connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(await channel.get_exchange(exchange), routing_key)

        async def keep(message: AbstractIncomingMessage) -> None:
            received.append(message)

        await queue.consume(keep, no_ack=True)
        return received

    async def publish(
        self, exchange: str, routing_key: str, body: bytes, **properties: Any
    ) -> None:
        """Publish raw bytes, as a producer that does not use the chassis might (malformed
        messages included)."""
        async with self._connection.channel() as channel:
            target = await channel.get_exchange(exchange)
            await target.publish(aio_pika.Message(body, **properties), routing_key=routing_key)

    async def take(self, queue: str) -> list[AbstractIncomingMessage]:
        """Every message waiting in `queue`, taken out of it (acknowledged)."""
        taken = []
        async with self._connection.channel() as channel:
            declared = await channel.get_queue(queue, ensure=True)
            while (message := await declared.get(fail=False)) is not None:
                await message.ack()
                taken.append(message)
        return taken
