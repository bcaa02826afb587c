"""The queues of a service and their companions, declared on RabbitMQ at start.

Every handler queue `<consumer>.<handler>` gets two companions:
- `<queue>.retry`: a wait queue whose messages expire back into the handler queue after a
  delay (delayed retry without a plugin);
- `<queue>.dlq`: bound to the dead-letter exchange; poison messages land here with the
  reason in their headers and in the log.
FastStream declares the handler queues when their subscribers start; the companions have no
consumer, so they are declared and bound here.
"""

from __future__ import annotations

from dataclasses import dataclass

from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitQueue

from chassis.config import MessagingSettings
from chassis.messaging.broker import dead_letter_exchange, events_exchange


@dataclass(frozen=True)
class HandlerQueue:
    name: str
    routing_key: str
    # None: the default exchange, where a command is sent by its queue's name.
    exchange: RabbitExchange | None
    # Commands are not retried later: their sender is waiting and has a deadline.
    retry: bool = True

    @property
    def retry_queue(self) -> str:
        return f"{self.name}.retry"

    @property
    def dead_letters(self) -> str:
        return f"{self.name}.dlq"


class Topology:
    def __init__(self, settings: MessagingSettings) -> None:
        self.events = events_exchange(settings)
        self.dead_letter = dead_letter_exchange(settings)
        self._retry_delay_ms = settings.retry_delay_ms
        self._queues: list[HandlerQueue] = []

    def add(self, queue: HandlerQueue) -> RabbitQueue:
        """Register `queue`; returns its declaration, for the subscriber consuming it."""
        self._queues.append(queue)
        return RabbitQueue(
            queue.name,
            durable=True,
            routing_key=queue.routing_key,
            arguments={
                "x-dead-letter-exchange": self.dead_letter.name,
                "x-dead-letter-routing-key": queue.name,
            },
        )

    async def declare(self, broker: RabbitBroker) -> None:
        dlx = await broker.declare_exchange(self.dead_letter)
        await broker.declare_exchange(self.events)
        for queue in self._queues:
            dlq = await broker.declare_queue(RabbitQueue(queue.dead_letters, durable=True))
            await dlq.bind(dlx, routing_key=queue.name)
            if queue.retry:
                await broker.declare_queue(
                    RabbitQueue(
                        queue.retry_queue,
                        durable=True,
                        arguments={
                            "x-message-ttl": self._retry_delay_ms,
                            "x-dead-letter-exchange": "",
                            "x-dead-letter-routing-key": queue.name,
                        },
                    )
                )
