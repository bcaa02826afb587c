"""Fixtures for the chassis tests: real MongoDB and RabbitMQ (the session's test vhost).

Helpers are handed out as fixtures because tests are imported with importlib (no package).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import string
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import aio_pika
import pytest
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from aiohttp import web

from chassis.config import ServiceSettings
from chassis.messaging import delivery, relay, subscriptions
from chassis.web.server import serving
from contracts import IntegrationEvent
from testkit import waiting
from testkit.fixtures import TestInfra
from testkit.node import Node

AMQP_PORT = 5672
HERE = Path(__file__).parent
# Every test here takes seconds; a hang should not cost the global 300 s.
TEST_TIMEOUT_SECONDS = 60
# Short enough that retries, leases and polls cost a fraction of a second.
FAST_SETTINGS: dict[str, Any] = {
    "retry_delay_ms": 100,
    "outbox_lease_seconds": 1,
    "outbox_poll_seconds": 0.05,
    "max_delivery_attempts": 3,
}


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def letters(n: int = 10) -> str:
    """Event types allow only `[a-z_]`, so unique routing keys are made of letters."""
    return "".join(random.choices(string.ascii_lowercase, k=n))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT_SECONDS))


# --- settings, chassis, events ----------------------------------------------------------------


@pytest.fixture
def make_settings(test_infra: TestInfra) -> Callable[..., ServiceSettings]:
    """`make_settings("prefix", **overrides)`: a unique service (queues, database) per call."""

    def make(prefix: str = "svc", **overrides: Any) -> ServiceSettings:
        return ServiceSettings(**test_infra.env(unique(prefix), **{**FAST_SETTINGS, **overrides}))

    return make


@pytest.fixture
async def make_node(
    make_settings: Callable[..., ServiceSettings],
) -> AsyncIterator[Callable[..., Node]]:
    """`make_node("prefix", **overrides)`: a Node, stopped after the test (start it)."""
    made: list[Node] = []

    def make(prefix: str = "svc", **overrides: Any) -> Node:
        node = Node(make_settings(prefix, **overrides))
        made.append(node)
        return node

    yield make
    for node in reversed(made):
        await node.stop()


@pytest.fixture
def make_event() -> Callable[[], type[IntegrationEvent]]:
    """A fresh event class per call, with its own routing key, so tests never share queues."""

    def make() -> type[IntegrationEvent]:
        routing_key = f"{letters()}.happened"

        class Happened(IntegrationEvent):
            event_type: ClassVar[str] = routing_key

            n: int
            note: str = ""

        return Happened

    return make


# --- waiting ----------------------------------------------------------------------------------


@pytest.fixture
def eventually() -> Callable[..., Awaitable[Any]]:
    return waiting.eventually


# --- a raw AMQP view of the test vhost ------------------------------------------------------


class Amqp:
    """aio-pika on the test vhost: what the chassis published, and raw publishing."""

    def __init__(self, channel: aio_pika.abc.AbstractChannel, exchange_name: str) -> None:
        self.channel = channel
        self.exchange_name = exchange_name

    async def events_exchange(self) -> aio_pika.abc.AbstractExchange:
        # Same arguments as the chassis declares, so either may declare it first.
        return await self.channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )

    async def bind(self, routing_key: str) -> AbstractQueue:
        """A private queue that sees every event published with `routing_key` from now on."""
        queue = await self.channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(await self.events_exchange(), routing_key=routing_key)
        return queue

    async def queue(self, name: str) -> AbstractQueue:
        """An existing queue (declared by the chassis), passively."""
        return await self.channel.declare_queue(name, passive=True)

    async def take(
        self, queue: AbstractQueue | str, count: int, timeout: float = 5.0
    ) -> list[AbstractIncomingMessage]:
        """Exactly `count` messages (acked), failing if fewer arrive within `timeout`."""
        if isinstance(queue, str):
            queue = await self.queue(queue)
        taken: list[AbstractIncomingMessage] = []

        async def enough() -> bool:
            while len(taken) < count:
                message = await queue.get(no_ack=True, fail=False)
                if message is None:
                    return False
                taken.append(message)
            return True

        try:
            await waiting.eventually(enough, timeout)
        except AssertionError as exc:
            bodies = [m.body[:80] for m in taken]
            raise AssertionError(f"{len(taken)} of {count} messages arrived: {bodies}") from exc
        return taken

    async def count(self, queue_name: str) -> int:
        queue = await self.queue(queue_name)
        return queue.declaration_result.message_count or 0

    async def publish(self, routing_key: str, body: bytes, **properties: Any) -> None:
        exchange = await self.events_exchange()
        await exchange.publish(aio_pika.Message(body, **properties), routing_key=routing_key)


@pytest.fixture
async def amqp(test_infra: TestInfra) -> AsyncIterator[Amqp]:
    connection = await aio_pika.connect(test_infra.amqp_url)
    try:
        channel = await connection.channel()
        yield Amqp(channel, "domain_events")
    finally:
        await connection.close()


# --- a cuttable path to RabbitMQ ------------------------------------------------------------


class TcpProxy:
    """Forwards a local port to RabbitMQ; `stop()` cuts every connection, `start()` heals.

    Lets a test take the broker away from one client without touching the machine's RabbitMQ.
    """

    def __init__(self, target_port: int = AMQP_PORT) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    def url(self, amqp_url: str) -> str:
        return amqp_url.replace(f":{self.target_port}/", f":{self.port}/", 1)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update({writer, up_writer})
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        dst.transport.abort()


@pytest.fixture
async def tcp_proxy() -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy()
    await proxy.start()
    yield proxy
    await proxy.stop()


# --- logs -------------------------------------------------------------------------------------


class LogRecorder:
    """Stands in for a chassis module's structlog logger; keeps the bound ids of each line."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def _log(self, level: str, event: str, **kw: Any) -> None:
        context = structlog.contextvars.get_contextvars()
        self.records.append({**context, **kw, "event": event, "level": level})

    def debug(self, event: str, **kw: Any) -> None:
        self._log("debug", event, **kw)

    def info(self, event: str, **kw: Any) -> None:
        self._log("info", event, **kw)

    def warning(self, event: str, **kw: Any) -> None:
        self._log("warning", event, **kw)

    def error(self, event: str, **kw: Any) -> None:
        self._log("error", event, **kw)

    def exception(self, event: str, **kw: Any) -> None:
        self._log("exception", event, **kw)

    def named(self, event: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["event"] == event]


@pytest.fixture
def chassis_log(monkeypatch: pytest.MonkeyPatch) -> LogRecorder:
    """What the messaging modules log during the test."""
    recorder = LogRecorder()
    for module in (delivery, relay, subscriptions):
        monkeypatch.setattr(module, "log", recorder)
    return recorder


# --- HTTP -------------------------------------------------------------------------------------


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    """`await serve(app)` runs the app on a free port as `run` does (startup included);
    returns its URL."""
    async with contextlib.AsyncExitStack() as served:

        async def start(app: web.Application) -> str:
            runner = await served.enter_async_context(serving(app, "127.0.0.1", 0))
            host, port = runner.addresses[0][:2]
            return f"http://{host}:{port}"

        yield start
