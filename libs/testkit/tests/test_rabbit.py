"""RabbitMQ's own counts: messages waiting in a queue, and copies delivered to a tap."""

from __future__ import annotations

import uuid

import aio_pika

from testkit.fixtures import TestInfra
from testkit.rabbit import Rabbit
from testkit.waiting import eventually


async def test_waiting_counts_ready_messages_and_a_tap_counts_copies_by_id(
    test_infra: TestInfra,
) -> None:
    exchange_name, queue_name = f"x-{uuid.uuid4().hex}", f"q-{uuid.uuid4().hex}"
    connection = await aio_pika.connect(test_infra.amqp_url)
    async with connection, Rabbit.connect(test_infra.amqp_url) as rabbit:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            exchange_name, aio_pika.ExchangeType.TOPIC, auto_delete=True
        )
        queue = await channel.declare_queue(queue_name, auto_delete=True)
        await queue.bind(exchange, "a.*")
        copies = await rabbit.tap(exchange_name, "a.one")

        for message_id, key in (("m1", "a.one"), ("m1", "a.one"), ("m2", "a.one"), ("m3", "a.two")):
            await exchange.publish(aio_pika.Message(b"{}", message_id=message_id), key)

        async def four_waiting() -> bool:
            return await rabbit.waiting(queue_name) == 4

        await eventually(four_waiting)
        await eventually(lambda: sum(copies.values()) == 3)
        assert copies == {"m1": 2, "m2": 1}
        await queue.get(no_ack=True)
        assert await rabbit.waiting(queue_name) == 3
