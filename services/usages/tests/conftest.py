"""Fixtures of the usages tests: the use cases on an in-memory unit of work; the service on
the real MongoDB and RabbitMQ, delivering over HTTP to the analytics simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from chassis.storage.unit_of_work import Recording
from testkit.analytics import AnalyticsSimulator, served_simulator
from testkit.api import PlatformClient
from testkit.fixtures import TestInfra
from testkit.memory import InMemoryUnitOfWork
from testkit.web import serving
from usages.domain import Usage
from usages.main import UsagesSettings, create_app
from usages.repository import USAGES
from usages.service import UsageService, UsagesTransaction

BATCH_SIZE = 10

# --- in memory --------------------------------------------------------------------------------


@dataclass
class Log:
    usages: dict[str, Usage] = field(default_factory=dict)


class InMemoryUsageLog:
    def __init__(self, log: Log, _: Recording) -> None:
        self._log = log

    async def add(self, usage: Usage) -> None:
        assert usage.id not in self._log.usages, "a usage is recorded once"
        self._log.usages[usage.id] = usage


class InMemoryUsagesTransaction:
    def __init__(self, log: Log, recording: Recording) -> None:
        self.usages = InMemoryUsageLog(log, recording)


UsagesUoW = InMemoryUnitOfWork[Log, UsagesTransaction]


@pytest.fixture
def uow() -> UsagesUoW:
    return InMemoryUnitOfWork(Log(), InMemoryUsagesTransaction)


@pytest.fixture
def usages(uow: UsagesUoW, now: datetime) -> UsageService:
    return UsageService(uow, clock=lambda: now)


# --- on MongoDB and RabbitMQ, delivering to the simulator -------------------------------------


@dataclass(frozen=True)
class Running:
    url: str
    settings: UsagesSettings
    analytics: AnalyticsSimulator


# Module scope: an instance left running would keep consuming `usages.usage_recorded`.
@pytest.fixture(scope="module")
async def running(test_infra: TestInfra) -> AsyncIterator[Running]:
    async with served_simulator() as analytics:
        settings = UsagesSettings(
            **test_infra.env(
                "usages",
                analytics_url=analytics.url,
                analytics_batch_size=BATCH_SIZE,
                analytics_linger_seconds=0.5,
                analytics_poll_seconds=0.05,
                analytics_attempts=2,
                analytics_max_attempts=4,
                analytics_retry_wait_seconds=0.05,
                analytics_retry_wait_max_seconds=0.2,
                retry_delay_ms=100,
            )
        )
        async with serving(create_app(settings)) as url:
            yield Running(url, settings, analytics)


@pytest.fixture
def analytics(running: Running) -> AnalyticsSimulator:
    return running.analytics


@pytest.fixture
def anonymous(http: aiohttp.ClientSession, running: Running) -> PlatformClient:
    """The service's API called without a token (`person.calling(running.url)`: signed in)."""
    return PlatformClient(http, running.url, None)


@pytest.fixture
async def stored(
    test_infra: TestInfra, running: Running
) -> AsyncIterator[AsyncCollection[dict[str, Any]]]:
    """The service's usages collection, to look into."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(test_infra.mongo_url)
    yield mongo[running.settings.database_name][USAGES]
    await mongo.close()
