"""pytest fixtures for tests that talk to the real MongoDB and RabbitMQ.

Each test session gets its own RabbitMQ vhost and its own database names, so test runs
never see each other's queues or documents, and clean up after themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from faststream.rabbit import RabbitBroker
from pymongo import MongoClient

from chassis.config import MessagingSettings
from chassis.logging import configure_logging
from chassis.messaging.broker import create_broker, events_exchange
from chassis.messaging.commands import CommandBus
from chassis.messaging.relay import OutgoingEvent, exchange_publisher
from contracts import Envelope, IntegrationEvent
from devstack import infra
from testkit.tokens import DevSigningKey


@dataclass(frozen=True)
class TestInfra:
    __test__ = False

    mongo_url: str
    amqp_url: str
    vhost: str
    run_id: str
    jwks_url: str

    def db_name(self, service: str) -> str:
        return f"t{self.run_id}_{service}"

    def env(self, service: str, **overrides: Any) -> dict[str, Any]:
        """Settings values for a service under test (pass as keyword arguments)."""
        return {
            "service_name": service,
            "mongo_url": self.mongo_url,
            "mongo_db": self.db_name(service),
            "amqp_url": self.amqp_url,
            "jwks_url": self.jwks_url,
            "log_level": "WARNING",
            **overrides,
        }


@dataclass(frozen=True)
class Stack:
    """Where a system under test keeps its queues and databases, apart from other tests'."""

    amqp_url: str
    vhost: str
    db_prefix: str


@pytest.fixture(scope="session", autouse=True)
def _logs() -> None:
    """Services under test in this process log as in production, warnings and worse only."""
    configure_logging("tests", "WARNING")


@pytest.fixture(scope="session")
def signing_key() -> DevSigningKey:
    return DevSigningKey.generate()


@pytest.fixture(scope="session")
def test_infra(
    signing_key: DevSigningKey, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestInfra]:
    started = infra.ensure_infra()
    run_id = uuid.uuid4().hex[:8]
    vhost = f"test-{run_id}"
    amqp_url = infra.create_vhost(vhost)
    jwks = signing_key.write_jwks(tmp_path_factory.mktemp("keys") / "jwks.json")
    yield TestInfra(started.mongo_url, amqp_url, vhost, run_id, Path(jwks).as_uri())
    infra.delete_vhost(vhost)
    _drop_databases(started.mongo_url, f"t{run_id}_")


def _drop_databases(mongo_url: str, prefix: str) -> None:
    client: MongoClient[dict[str, Any]]
    with MongoClient(mongo_url) as client:
        for name in client.list_database_names():
            if name.startswith(prefix):
                client.drop_database(name)


@pytest.fixture
def now() -> datetime:
    """A fixed instant, for use cases run with a stopped clock."""
    return datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


BrokerOf = tuple[RabbitBroker, MessagingSettings]


@asynccontextmanager
async def _connected(test_infra: TestInfra, role: str) -> AsyncIterator[BrokerOf]:
    """A broker of its own on the test vhost, as another service has one."""
    settings = MessagingSettings(**test_infra.env(f"{role}_{uuid.uuid4().hex[:8]}"))
    broker = create_broker(settings)
    await broker.connect()
    try:
        yield broker, settings
    finally:
        await broker.stop()


@pytest.fixture
async def commands(test_infra: TestInfra) -> AsyncIterator[CommandBus]:
    """A command sender on the test vhost, as a calling service has one."""
    async with _connected(test_infra, "caller") as (broker, settings):
        bus = CommandBus(broker, settings.service_name)
        await bus.start()
        yield bus


class EventProducer:
    """Publishes events on the test vhost as a service's outbox relay does: the envelope,
    persistent, confirmed; for testing a consumer without running the service it hears."""

    def __init__(self, broker: RabbitBroker, settings: MessagingSettings) -> None:
        self._publish = exchange_publisher(broker, events_exchange(settings), settings.service_name)

    async def publish(
        self, event: IntegrationEvent, *, tenant_id: str | None, actor_id: str | None = None
    ) -> Envelope:
        envelope = Envelope.wrap(
            event, tenant_id=tenant_id, actor_id=actor_id, correlation_id=uuid.uuid4().hex
        )
        await self._publish(OutgoingEvent.of(envelope))
        return envelope

    async def republish(self, envelope: Envelope) -> None:
        """Publish `envelope` again, as a relay that died before marking it sent does."""
        await self._publish(OutgoingEvent.of(envelope))


@pytest.fixture
async def producer(test_infra: TestInfra) -> AsyncIterator[EventProducer]:
    async with _connected(test_infra, "producer") as (broker, settings):
        yield EventProducer(broker, settings)


@pytest.fixture
def token(signing_key: DevSigningKey) -> Callable[..., str]:
    """`token(tenant_id=..., roles=[...])` mints a valid access token."""
    return signing_key.mint
