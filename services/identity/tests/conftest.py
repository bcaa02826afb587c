"""Fixtures of the identity tests: the service on the real MongoDB and RabbitMQ, served over
HTTP, and the emails it asks for as RabbitMQ delivers them to a queue of the test's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from pymongo import AsyncMongoClient

from identity.main import IdentitySettings, create_app
from testkit.api import PlatformClient
from testkit.fixtures import TestInfra
from testkit.identity import Mailbag, People, Person, new_email
from testkit.rabbit import Rabbit
from testkit.stored import Database
from testkit.web import serving

SERVICE_SETTINGS = {
    "retry_delay_ms": 100,
    "max_delivery_attempts": 2,
    "outbox_poll_seconds": 0.1,
    "signing_key_publication_seconds": 1,
}


@pytest.fixture(scope="module")
def identity_overrides() -> dict[str, Any]:
    """Settings of a module's own (a module overrides this fixture)."""
    return {}


@pytest.fixture(scope="module")
async def settings(test_infra: TestInfra, identity_overrides: dict[str, Any]) -> IdentitySettings:
    # Each module's own operator: the modules share the database.
    operator = new_email("operator")
    return IdentitySettings(
        **test_infra.env(
            "identity", operator_emails=operator, **{**SERVICE_SETTINGS, **identity_overrides}
        )
    )


@pytest.fixture(scope="module")
def service_env() -> dict[str, str]:
    """SERVICE_SETTINGS as a process of the service reads them (its queues are declared the
    same as this process's instances declare them)."""
    return {name.upper(): str(value) for name, value in SERVICE_SETTINGS.items()}


# Module scope: an instance left running would keep consuming the service's queues.
@pytest.fixture(scope="module")
async def identity_url(settings: IdentitySettings) -> AsyncIterator[str]:
    async with serving(create_app(settings)) as url:
        yield url


@pytest.fixture
async def database(settings: IdentitySettings) -> AsyncIterator[Database]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_url)
    yield client[settings.database_name]
    await client.close()


@pytest.fixture(scope="module")
async def mail(test_infra: TestInfra, identity_url: str) -> AsyncIterator[Mailbag]:
    # The running service has declared the exchange.
    async with Rabbit.connect(test_infra.amqp_url) as rabbit:
        bag = Mailbag(rabbit)
        await bag.start()
        yield bag


@pytest.fixture(scope="module")
async def anonymous(identity_url: str) -> AsyncIterator[PlatformClient]:
    """The API without credentials; `as_caller(token)` shares its connection pool."""
    async with aiohttp.ClientSession() as http:
        yield PlatformClient(http, identity_url, None)


@pytest.fixture(scope="module")
def people(anonymous: PlatformClient, mail: Mailbag) -> People:
    return People(anonymous, mail.token)


@pytest.fixture(scope="module")
async def operator(people: People, settings: IdentitySettings) -> Person:
    """A person with the operations role (their address is in OPERATOR_EMAILS)."""
    return await people.person(settings.operators[0])
