"""Fixtures of the audits tests: the use case on an in-memory unit of work, and the service
itself on the real MongoDB and RabbitMQ, over HTTP and AMQP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import pytest
import structlog
from pymongo import AsyncMongoClient

from audits.domain import AuditEntry
from audits.main import AuditsSettings, create_app
from audits.service import AuditService, AuditsTransaction
from chassis.messaging import delivery, subscriptions
from chassis.storage.unit_of_work import Recording
from testkit.fixtures import TestInfra
from testkit.memory import InMemoryUnitOfWork
from testkit.stored import Database
from testkit.web import serving

# --- in memory --------------------------------------------------------------------------------


@dataclass
class Trail:
    entries: dict[str, AuditEntry] = field(default_factory=dict)


class InMemoryTrail:
    def __init__(self, trail: Trail, _: Recording) -> None:
        self._trail = trail

    async def append(self, entry: AuditEntry) -> None:
        # MongoDB refuses a second entry of one id (its `_id`): so does this.
        if entry.id in self._trail.entries:
            raise ValueError(f"entry {entry.id} exists")
        self._trail.entries[entry.id] = entry


class InMemoryAuditsTransaction:
    def __init__(self, trail: Trail, recording: Recording) -> None:
        self.trail = InMemoryTrail(trail, recording)


AuditsUoW = InMemoryUnitOfWork[Trail, AuditsTransaction]


@pytest.fixture
def uow() -> AuditsUoW:
    return InMemoryUnitOfWork(Trail(), InMemoryAuditsTransaction)


@pytest.fixture
def audits() -> AuditService:
    return AuditService()


# --- on MongoDB and RabbitMQ ------------------------------------------------------------------

# Short, so that a message that keeps failing reaches its dead letter within a test.
FAST = {"retry_delay_ms": 100, "max_delivery_attempts": 3}


# Module scope: an instance left running would keep consuming `audits.audit_recorded`.
@pytest.fixture(scope="module")
async def audits_url(test_infra: TestInfra) -> AsyncIterator[str]:
    async with serving(create_app(AuditsSettings(**test_infra.env("audits", **FAST)))) as url:
        yield url


@pytest.fixture
async def audits_database(test_infra: TestInfra) -> AsyncIterator[Database]:
    """The audits service's own database, to look into."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(test_infra.mongo_url)
    yield client[test_infra.db_name("audits")]
    await client.close()


class Logged:
    """Stands in for the messaging modules' loggers: each line with the ids bound to it."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def _line(self, event: str, **kw: Any) -> None:
        self.records.append({**structlog.contextvars.get_contextvars(), **kw, "event": event})

    debug = info = warning = error = exception = _line

    def named(self, event: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["event"] == event]


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> Logged:
    """What the subscriptions and deliveries of the service under test log meanwhile."""
    recorder = Logged()
    for module in (delivery, subscriptions):
        monkeypatch.setattr(module, "log", recorder)
    return recorder


@pytest.fixture
async def channel(test_infra: TestInfra) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A plain AMQP channel on the test vhost, to publish what no relay would."""
    connection = await aio_pika.connect(test_infra.amqp_url)
    try:
        yield await connection.channel()
    finally:
        await connection.close()
