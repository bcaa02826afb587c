"""Request/reply commands over the real RabbitMQ: correlation, timeouts, an absent broker."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime, timedelta
from typing import ClassVar

import pytest
from pydantic import BaseModel

from chassis.clock import utc_now
from chassis.logging import bound_ids, current_ids
from chassis.messaging.broker import create_broker
from chassis.messaging.commands import CommandBus, CommandTimeout, CommandUnavailable
from contracts import Command


class EchoReply(BaseModel):
    n: int
    text: str
    request_id: str | None = None
    correlation_id: str | None = None
    deadline: datetime | None = None


def echo_command(queue_name: str) -> type[Command[EchoReply]]:
    """A command of its own per test, on its own queue."""

    class Echo(Command[EchoReply]):
        queue: ClassVar[str] = queue_name

        n: int
        text: str

    return Echo


@pytest.fixture
async def echo_server(make_node):
    """A service answering `<service>.echo` with the request's fields and the ids it saw."""
    server = make_node("server", prefetch_count=64)
    Echo = echo_command(f"{server.settings.service_name}.echo")

    async def echo(command) -> EchoReply:
        await asyncio.sleep(random.uniform(0, 0.02))  # replies come back out of order
        request_id, correlation_id = current_ids()
        return EchoReply(
            n=command.n,
            text=command.text.upper(),
            request_id=request_id,
            correlation_id=correlation_id,
            deadline=command.deadline,
        )

    server.subscriptions.on_command(Echo, echo)
    await server.start()
    return Echo


async def test_concurrent_commands_get_their_own_replies(echo_server, commands):
    replies = await asyncio.gather(
        *(commands.send(echo_server(n=n, text=f"t{n}"), 10) for n in range(200))
    )
    assert [(r.n, r.text) for r in replies] == [(n, f"T{n}") for n in range(200)]
    assert commands.in_flight == 0


async def test_many_commands_are_in_flight_at_once(make_node, commands):
    # The server answers none until all have arrived, so only a sender with every command in
    # flight at once gets its replies; one that waits for each reply in turn (as FastStream's
    # `request` does, holding a lock) times out on the first.
    count = 50
    server = make_node("server", prefetch_count=count)
    Hold = echo_command(f"{server.settings.service_name}.hold")
    arrived: list[int] = []
    everyone = asyncio.Event()

    async def hold(command) -> EchoReply:
        arrived.append(command.n)
        if len(arrived) == count:
            everyone.set()
        await everyone.wait()
        return EchoReply(n=command.n, text=command.text)

    server.subscriptions.on_command(Hold, hold)
    await server.start()
    replies = await asyncio.gather(*(commands.send(Hold(n=n, text="x"), 10) for n in range(count)))
    assert [r.n for r in replies] == list(range(count))
    assert sorted(arrived) == list(range(count))


async def test_command_carries_request_and_correlation_ids(echo_server, commands):
    with bound_ids("req-7", "corr-7"):
        reply = await commands.send(echo_server(n=1, text="x"), 5)
    assert (reply.request_id, reply.correlation_id) == ("req-7", "corr-7")


async def test_a_command_carries_its_deadline_the_end_of_its_timeout(echo_server, make_settings):
    settings = make_settings("client")
    broker = create_broker(settings)
    await broker.connect()
    sent_at = utc_now() + timedelta(hours=1)  # a clock ahead, so the deadline is unmistakable
    client = CommandBus(broker, settings.service_name, clock=lambda: sent_at)
    await client.start()
    try:
        reply = await client.send(echo_server(n=1, text="a"), 7.5)
    finally:
        await broker.stop()
    assert reply.deadline == sent_at + timedelta(seconds=7.5)


async def test_a_command_handled_after_its_deadline_is_dropped_unanswered(
    make_node, make_settings, chassis_log, eventually
):
    server = make_node("server")
    Echo = echo_command(f"{server.settings.service_name}.echo")
    handled: list[int] = []

    async def echo(command) -> EchoReply:
        handled.append(command.n)
        return EchoReply(n=command.n, text=command.text)

    server.subscriptions.on_command(Echo, echo)
    await server.start()
    settings = make_settings("client")
    broker = create_broker(settings)
    await broker.connect()
    # The sender's clock is behind: the command reaches the server already past its deadline,
    # as one does that waited in the server's hands after its sender gave up.
    late = CommandBus(broker, settings.service_name, clock=lambda: utc_now() - timedelta(hours=1))
    await late.start()
    try:
        sending = asyncio.create_task(late.send(Echo(n=1, text="late"), 3))
        await eventually(lambda: chassis_log.named("command.expired"))
        with pytest.raises(CommandTimeout):
            await sending
    finally:
        await broker.stop()
    assert handled == []


async def test_unanswered_command_times_out_and_expires(commands, amqp, make_settings):
    # Nobody consumes this queue: the command waits there, and must not outlive the timeout.
    queue_name = f"{make_settings('idle').service_name}.ignored"
    queue = await amqp.channel.declare_queue(queue_name, auto_delete=True)

    # Each send waits for its own timeout: the short one is over while the long one waits on.
    Ignored = echo_command(queue_name)
    waiting = asyncio.ensure_future(commands.send(Ignored(n=2, text="long"), 60))
    with pytest.raises(CommandTimeout):
        await commands.send(Ignored(n=1, text="short"), 0.3)
    assert not waiting.done()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert commands.in_flight == 0

    # The short one expired with its timeout; the long one is still there to be acted on.
    await asyncio.sleep(0.2)
    left = await queue.get(no_ack=True, fail=False)
    assert left is not None and Ignored.model_validate_json(left.body).n == 2
    assert await queue.get(no_ack=True, fail=False) is None

    with pytest.raises(CommandTimeout):  # no queue at all: dropped, still a timeout
        await commands.send(echo_command(f"{queue_name}.nowhere")(n=1, text="x"), 0.3)


async def test_command_raises_unavailable_while_the_broker_is_down(
    echo_server, make_settings, tcp_proxy, test_infra
):
    settings = make_settings("client", amqp_url=tcp_proxy.url(test_infra.amqp_url))
    broker = create_broker(settings)
    await broker.connect()
    client = CommandBus(broker, settings.service_name)
    await client.start()
    try:
        assert (await client.send(echo_server(n=1, text="a"), 5)).n == 1

        await tcp_proxy.stop()
        # Fails fast, not at the timeout: given an hour, only failing at once ends within
        # the test's time limit.
        with pytest.raises(CommandUnavailable) as raised:
            await client.send(echo_server(n=2, text="b"), 3600)
        assert not isinstance(raised.value, CommandTimeout)
        assert client.in_flight == 0

        # Once the broker is back (reconnect, reply queue restored) commands work again.
        await tcp_proxy.start()
        deadline = time.monotonic() + 10
        while True:
            try:
                reply = await client.send(echo_server(n=3, text="c"), 1)
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
    client = CommandBus(create_broker(settings), settings.service_name)
    with pytest.raises(CommandUnavailable) as raised:
        await client.send(echo_command("anything")(n=1, text="x"), 5)
    assert not isinstance(raised.value, CommandTimeout)
