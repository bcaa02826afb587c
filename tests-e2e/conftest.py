"""The whole system as processes behind the gateway, driven over HTTP only.

Only the resilience tests look into a service's database, to count what was applied.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from pymongo import MongoClient

from devstack import infra
from devstack.services import SERVICES
from devstack.system import StackSettings, System, free_ports
from testkit.fixtures import Stack, TestInfra

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def stack(test_infra: TestInfra) -> Iterator[Stack]:
    # Its own vhost: its queues are declared with other settings (retry delay) than the
    # service tests' queues of the same names.
    vhost = f"{test_infra.vhost}-e2e"
    yield Stack(infra.create_vhost(vhost), vhost, test_infra.db_name("e2e_"))
    infra.delete_vhost(vhost)


@pytest.fixture(scope="session")
def system(
    test_infra: TestInfra, stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    settings = StackSettings(
        mongo_url=test_infra.mongo_url,
        amqp_url=stack.amqp_url,
        jwks_url=test_infra.jwks_url,
        log_dir=tmp_path_factory.mktemp("logs"),
        ports=free_ports(s.name for s in SERVICES),
        db_prefix=stack.db_prefix,
        python=sys.executable,
        # Short lease and retry delay so that crash recovery shows within a test's patience.
        env={"OUTBOX_LEASE_SECONDS": "3", "RETRY_DELAY_MS": "200", "LOG_LEVEL": "INFO"},
    )
    system = System(settings)
    system.start(timeout=60)
    yield system
    system.stop()


@pytest.fixture
def gateway(system: System) -> str:
    return system.gateway_url


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def headers(token: Callable[..., str], tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(tenant_id=tenant, user_id='driver-1')}"}


@pytest.fixture
def database(test_infra: TestInfra, stack: Stack) -> Iterator[Callable[[str], Any]]:
    """A service's database by service name, for counting what was applied."""
    client: MongoClient[dict[str, Any]] = MongoClient(test_infra.mongo_url)
    yield lambda service: client[f"{stack.db_prefix}{service}"]
    client.close()
