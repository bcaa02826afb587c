"""Request/reply commands over the real RabbitMQ: correlation, timeouts, an absent broker."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from pydantic import BaseModel

from chassis.broker import create_broker
from chassis.commands import CommandClient, CommandTimeout, CommandUnavailable
from chassis.logging import bound_ids, current_ids


class Echo(BaseModel):
    n: int
    text: str


class EchoReply(BaseModel):
    n: int
    text: str
    request_id: str | None = None
    correlation_id: str | None = None


@pytest.fixture
async def echo_server(make_chassis):
    """A service answering `<service>.echo` with the request's fields and the ids it saw."""
    server = make_chassis("server", prefetch_count=64)

    async def echo(command: Echo) -> EchoReply:
        await asyncio.sleep(random.uniform(0, 0.02))  # replies come back out of order
        request_id, correlation_id = current_ids()
        return EchoReply(
            n=command.n,
            text=command.text.upper(),
            request_id=request_id,
            correlation_id=correlation_id,
        )

    queue = f"{server.settings.service_name}.echo"
    server.subscriptions.on_command(queue, Echo, echo)
    await server.start()
    return queue


@pytest.fixture
async def client_broker(make_settings):
    """A connected broker and its started CommandClient, as a calling service has them."""
    settings = make_settings("client")
    broker = create_broker(settings)
    await broker.connect()
    client = CommandClient(broker, settings.service_name)
    await client.start()
    yield client
    await broker.stop()


async def test_concurrent_commands_get_their_own_replies(echo_server, client_broker):
    started = time.monotonic()
    replies = await asyncio.gather(
        *(
            client_broker.send(echo_server, Echo(n=n, text=f"t{n}"), EchoReply, 10)
            for n in range(200)
        )
    )
    elapsed = time.monotonic() - started
    assert [(r.n, r.text) for r in replies] == [(n, f"T{n}") for n in range(200)]
    assert elapsed < 5.0, f"200 commands took {elapsed:.2f}s"
    assert client_broker._pending == {}


async def test_command_carries_request_and_correlation_ids(echo_server, client_broker):
    with bound_ids("req-7", "corr-7"):
        reply = await client_broker.send(echo_server, Echo(n=1, text="x"), EchoReply, 5)
    assert (reply.request_id, reply.correlation_id) == ("req-7", "corr-7")


async def test_unanswered_command_times_out_and_expires(client_broker, amqp, make_settings):
    # Nobody consumes this queue: the command waits there, and must not outlive the timeout.
    queue_name = f"{make_settings('idle').service_name}.ignored"
    queue = await amqp.channel.declare_queue(queue_name, auto_delete=True)

    started = time.monotonic()
    with pytest.raises(CommandTimeout):
        await client_broker.send(queue_name, Echo(n=1, text="x"), EchoReply, 0.3)
    elapsed = time.monotonic() - started
    assert 0.29 <= elapsed < 1.0
    assert client_broker._pending == {}

    await asyncio.sleep(0.2)
    assert await queue.get(no_ack=True, fail=False) is None  # expired with the timeout

    started = time.monotonic()
    with pytest.raises(CommandTimeout):  # no queue at all: dropped, still a timeout
        await client_broker.send(f"{queue_name}.nowhere", Echo(n=1, text="x"), EchoReply, 0.3)
    assert time.monotonic() - started < 1.0


async def test_command_raises_unavailable_while_the_broker_is_down(
    echo_server, make_settings, tcp_proxy, test_infra
):
    settings = make_settings("client", amqp_url=tcp_proxy.url(test_infra.amqp_url))
    broker = create_broker(settings)
    await broker.connect()
    client = CommandClient(broker, settings.service_name)
    await client.start()
    try:
        assert (await client.send(echo_server, Echo(n=1, text="a"), EchoReply, 5)).n == 1

        await tcp_proxy.stop()
        started = time.monotonic()
        with pytest.raises(CommandUnavailable) as raised:
            await client.send(echo_server, Echo(n=2, text="b"), EchoReply, 5)
        assert not isinstance(raised.value, CommandTimeout)
        assert time.monotonic() - started < 1.0  # fails fast, not at the timeout
        assert client._pending == {}

        # Once the broker is back (reconnect, reply queue restored) commands work again.
        await tcp_proxy.start()
        deadline = time.monotonic() + 10
        while True:
            try:
                reply = await client.send(echo_server, Echo(n=3, text="c"), EchoReply, 1)
                break
            except CommandUnavailable:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        assert reply.n == 3
    finally:
        await broker.stop()


async def test_command_on_a_never_connected_broker_is_unavailable(make_settings):
    settings = make_settings("client")
    client = CommandClient(create_broker(settings), settings.service_name)
    with pytest.raises(CommandUnavailable) as raised:
        await client.send("anything", Echo(n=1, text="x"), EchoReply, 5)
    assert not isinstance(raised.value, CommandTimeout)
