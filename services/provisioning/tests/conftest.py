"""Fixtures of the provisioning tests: the use cases on an in-memory unit of work, and the
service itself on the real MongoDB and RabbitMQ."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from chassis.storage.unit_of_work import Recording
from provisioning.domain import Tenant, TenantDefaults
from provisioning.main import ProvisioningSettings, create_app
from provisioning.service import ProvisioningService, ProvisioningTransaction, integration_events
from testkit.fixtures import TestInfra
from testkit.memory import InMemoryUnitOfWork
from testkit.stored import Database
from testkit.web import serving

DEFAULTS = TenantDefaults("Europe/Berlin", "de-DE", "eu-central", "trial")

# --- in memory --------------------------------------------------------------------------------


@dataclass
class Tenants:
    tenants: dict[str, Tenant] = field(default_factory=dict)


class InMemoryTenants:
    def __init__(self, state: Tenants, recording: Recording) -> None:
        self._state = state
        self._recording = recording

    async def exists(self, tenant_id: str) -> bool:
        return tenant_id in self._state.tenants

    async def add(self, tenant: Tenant) -> None:
        if tenant.id in self._state.tenants:
            raise AssertionError(f"tenant {tenant.id} added twice")  # MongoDB's duplicate key
        self._state.tenants[tenant.id] = tenant
        self._recording.track(tenant)


class InMemoryProvisioningTransaction:
    def __init__(self, state: Tenants, recording: Recording) -> None:
        self.tenants = InMemoryTenants(state, recording)


ProvisioningUoW = InMemoryUnitOfWork[Tenants, ProvisioningTransaction]


@pytest.fixture
def uow() -> ProvisioningUoW:
    return InMemoryUnitOfWork(Tenants(), InMemoryProvisioningTransaction, integration_events)


@pytest.fixture
def defaults() -> TenantDefaults:
    return DEFAULTS


@pytest.fixture
def provisioning(uow: ProvisioningUoW, now: datetime) -> ProvisioningService:
    return ProvisioningService(uow, DEFAULTS, clock=lambda: now)


# --- on MongoDB and RabbitMQ ------------------------------------------------------------------


SERVICE_SETTINGS = {"retry_delay_ms": 100, "max_delivery_attempts": 2, "outbox_poll_seconds": 0.1}


@pytest.fixture(scope="module")
async def settings(test_infra: TestInfra) -> ProvisioningSettings:
    return ProvisioningSettings(**test_infra.env("provisioning", **SERVICE_SETTINGS))


# Module scope: an instance left running would keep consuming the service's queue.
@pytest.fixture(scope="module")
async def provisioning_url(settings: ProvisioningSettings) -> AsyncIterator[str]:
    async with serving(create_app(settings)) as url:
        yield url


@pytest.fixture
async def database(settings: ProvisioningSettings) -> AsyncIterator[Database]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_url)
    yield client[settings.database_name]
    await client.close()
