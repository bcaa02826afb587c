"""pytest fixtures for tests that talk to the real MongoDB and RabbitMQ.

Each test session gets its own RabbitMQ vhost and its own database names, so test runs
never see each other's queues or documents, and clean up after themselves. It also gets an
identity service of its own, the issuer of every token the services under test are called
with: they trust its JWKS (`TestInfra.jwks_url`), as they trust identity's in production.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
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
from identity.credentials.hashing import HashParameters
from identity.main import IdentitySettings, create_app
from testkit.api import PlatformClient
from testkit.identity import Mailbag, People, Person, new_email
from testkit.rabbit import Rabbit
from testkit.s3 import S3Bucket, s3_simulator
from testkit.tokens import DevSigningKey
from testkit.web import serving


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


@dataclass(frozen=True)
class Run:
    """This session's share of the machine's MongoDB and RabbitMQ: databases named
    `t<run_id>_...` and a vhost."""

    mongo_url: str
    amqp_url: str
    vhost: str
    run_id: str


# The exchange the issuer publishes its events to, on the session's vhost: the people it
# registers are not heard by the services under test, whose tests publish what they should
# hear themselves.
ISSUER_EVENTS = "issuer_events"


@dataclass(frozen=True)
class Issuer:
    """The session's identity service, served in this process: it issues the tokens of the
    people who call the services under test."""

    url: str
    # Whoever registers with this address gets the operations role.
    operator_email: str

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks.json"


@pytest.fixture(scope="session")
def session_run() -> Iterator[Run]:
    started = infra.ensure_infra()
    run_id = uuid.uuid4().hex[:8]
    vhost = f"test-{run_id}"
    yield Run(started.mongo_url, infra.create_vhost(vhost), vhost, run_id)
    infra.delete_vhost(vhost)
    _drop_databases(started.mongo_url, f"t{run_id}_")


@pytest.fixture(scope="session")
async def issuer(session_run: Run) -> AsyncIterator[Issuer]:
    operator = new_email("operator")
    settings = IdentitySettings(
        # Its own queues and database, apart from the identity service's own tests'.
        service_name="issuer",
        mongo_url=session_run.mongo_url,
        mongo_db=f"t{session_run.run_id}_issuer",
        amqp_url=session_run.amqp_url,
        events_exchange=ISSUER_EVENTS,
        log_level="WARNING",
        operator_emails=operator,
        outbox_poll_seconds=0.1,
        # Longer than a session's tests take: people made once serve many tests.
        access_token_minutes=60,
        # Hashing passwords is identity's own tests' concern; here it would only slow down
        # each registration and login.
        password_hash=HashParameters(memory_kib=1024, passes=1),
    )
    async with serving(create_app(settings)) as url:
        yield Issuer(url, operator)


@pytest.fixture(scope="session")
def test_infra(session_run: Run, issuer: Issuer) -> TestInfra:
    run = session_run
    return TestInfra(run.mongo_url, run.amqp_url, run.vhost, run.run_id, issuer.jwks_url)


@pytest.fixture(scope="session")
async def issued_mail(session_run: Run, issuer: Issuer) -> AsyncIterator[Mailbag]:
    """The emails the issuer asked for (their tokens confirm registrations)."""
    # The running issuer has declared its exchange.
    async with Rabbit.connect(session_run.amqp_url) as rabbit:
        bag = Mailbag(rabbit, ISSUER_EVENTS)
        await bag.start()
        yield bag


@pytest.fixture(scope="session")
async def people(issuer: Issuer, issued_mail: Mailbag) -> AsyncIterator[People]:
    """People registered, confirmed and logged in at the issuer: `person.calling(url)` is
    one of them calling a service under test."""
    async with aiohttp.ClientSession() as http:
        yield People(PlatformClient(http, issuer.url, None), issued_mail.token)


@pytest.fixture(scope="session")
async def operator(people: People, issuer: Issuer) -> Person:
    """A person with the operations role (registered with the operator address)."""
    return await people.person(issuer.operator_email)


@pytest.fixture
async def person(people: People) -> Person:
    """A new person: the owner of an organization of their own, with nothing in it yet."""
    return await people.person()


@pytest.fixture(scope="module")
async def someone(people: People) -> Person:
    """A person the tests of a module share (the owner of an organization of their own),
    for tests that do not mind what the others left in it."""
    return await people.person()


def _drop_databases(mongo_url: str, prefix: str) -> None:
    client: MongoClient[dict[str, Any]]
    with MongoClient(mongo_url) as client:
        for name in client.list_database_names():
            if name.startswith(prefix):
                client.drop_database(name)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint URL of the session's S3 API server (its own process, started on first use)."""
    with s3_simulator(tmp_path_factory.mktemp("s3")) as endpoint_url:
        yield endpoint_url


@pytest.fixture(scope="module")
def s3_bucket(s3_server: str) -> S3Bucket:
    """A bucket name of the module's own on the session's S3 server (created by whoever
    starts a blob store on it): `s3_bucket.settings()` for a service under test."""
    return S3Bucket.unique(s3_server)


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
        self,
        event: IntegrationEvent,
        *,
        tenant_id: str | None,
        actor_id: str | None = None,
        correlation_id: str | None = None,
    ) -> Envelope:
        envelope = Envelope.wrap(
            event,
            tenant_id=tenant_id,
            actor_id=actor_id,
            correlation_id=correlation_id or uuid.uuid4().hex,
        )
        await self.resend(envelope)
        return envelope

    async def resend(self, envelope: Envelope) -> None:
        """Publish `envelope` (again), as a relay does after a crash before marking it sent."""
        await self._publish(OutgoingEvent.of(envelope))


@pytest.fixture
async def producer(test_infra: TestInfra) -> AsyncIterator[EventProducer]:
    async with _connected(test_infra, "producer") as (broker, settings):
        yield EventProducer(broker, settings)


# The test signing key, for the tests of token verification itself (the chassis', the
# gateway's): a verifier trusting its JWKS is given tokens identity would never issue.
@pytest.fixture(scope="session")
def signing_key() -> DevSigningKey:
    return DevSigningKey.generate()


@pytest.fixture
def token(signing_key: DevSigningKey) -> Callable[..., str]:
    """`token(tenant_id=..., roles=[...])` mints an access token with the test key."""
    return signing_key.mint
