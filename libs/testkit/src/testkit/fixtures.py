"""pytest fixtures for tests that talk to the real MongoDB and RabbitMQ.

Each test session gets its own RabbitMQ vhost and its own database names, so test runs
never see each other's queues or documents, and clean up after themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient

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
async def mongo_client(test_infra: TestInfra) -> AsyncIterator[AsyncMongoClient[Any]]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(test_infra.mongo_url, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture
def token(signing_key: DevSigningKey) -> Callable[..., str]:
    """`token(tenant_id=..., roles=[...])` mints a valid access token."""
    return signing_key.mint
