"""The whole system as processes behind the gateway, driven over HTTP only.

Tests call the API as `PlatformClient`s, one per caller. They look into the services'
databases only for what the API cannot show: that refused input stored nothing (pending
bookings included), and, in the resilience tests, the writes MongoDB recorded for bookings'
projection, to count what was applied.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pymongo import AsyncMongoClient

from chassis.config import MessagingSettings
from chassis.messaging.broker import create_broker
from devstack import infra
from devstack.services import SERVICES
from devstack.system import StackSettings, System, free_ports
from simulators.mailbox import Mailbox
from testkit.analytics import AnalyticsSimulator, simulator_process
from testkit.api import PlatformClient
from testkit.fixtures import EventProducer, Stack, TestInfra
from testkit.stored import Databases

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # pytest ignores `pytestmark` in a conftest, and this hook sees every collected test.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def stack(test_infra: TestInfra) -> Iterator[Stack]:
    # Its own vhost: its queues are declared with other settings (retry delay) than the
    # service tests' queues of the same names.
    vhost = f"{test_infra.vhost}-e2e"
    yield Stack(infra.create_vhost(vhost), vhost, test_infra.db_name("e2e_"))
    infra.delete_vhost(vhost)


@pytest.fixture(scope="session")
def mailbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mailbox]:
    """The SMTP server the emails service sends to (aiosmtpd on the loopback)."""
    box = Mailbox(tmp_path_factory.mktemp("mail"))
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="session")
def analytics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalyticsSimulator]:
    """The product-analytics simulator usages delivers to, as its own process."""
    log_dir = tmp_path_factory.mktemp("analytics")
    with simulator_process(free_ports(["analytics"])["analytics"], log_dir) as simulator:
        yield simulator


@pytest.fixture(scope="session")
def system(
    test_infra: TestInfra,
    stack: Stack,
    mailbox: Mailbox,
    analytics: AnalyticsSimulator,
    tmp_path_factory: pytest.TempPathFactory,
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
        service_env={
            "emails": {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(mailbox.port)},
            # The flags of the tests' own environment (test_flags.py).
            "flags": {"FLAGS_FILE": str(HERE / "flags.yaml"), "ENVIRONMENT": "e2e"},
            "usages": {
                "ANALYTICS_URL": analytics.url,
                "ANALYTICS_API_KEY": analytics.api_key,
                "ANALYTICS_LINGER_SECONDS": "0.2",
            },
        },
    )
    system = System(settings)
    system.start(timeout=60)
    yield system
    system.stop()


@pytest.fixture
def gateway(system: System) -> str:
    return system.gateway_url


@pytest.fixture
def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def caller(
    http: aiohttp.ClientSession, gateway: str, token: Callable[..., str], tenant: str
) -> Callable[..., PlatformClient]:
    """`caller(user_id=..., tenant_id=..., roles=[...], org_roles=[...])`: a client of the
    gateway for another caller, by default a new user of the test's tenant (`tenant_id=None`:
    a token naming none).
    """

    def make(
        *,
        tenant_id: str | None = tenant,
        user_id: str | None = None,
        roles: list[str] | None = None,
        org_roles: list[str] | None = None,
    ) -> PlatformClient:
        bearer = token(tenant_id=tenant_id, user_id=user_id, roles=roles, org_roles=org_roles)
        return PlatformClient(http, gateway, bearer)

    return make


@pytest.fixture
def client(caller: Callable[..., PlatformClient]) -> PlatformClient:
    """The test's own caller: one driver of the test's tenant."""
    return caller(user_id="driver-1")


@pytest.fixture
def anonymous(http: aiohttp.ClientSession, gateway: str) -> PlatformClient:
    """A caller that sends no credentials (it may still send an `Authorization` of its own)."""
    return PlatformClient(http, gateway, None)


@pytest.fixture
async def database(test_infra: TestInfra, stack: Stack) -> AsyncIterator[Databases]:
    """A service's database by service name."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(test_infra.mongo_url)
    yield lambda service: client[f"{stack.db_prefix}{service}"]
    await client.close()


@pytest.fixture
async def identity(stack: Stack) -> AsyncIterator[EventProducer]:
    """Publishes on the system's vhost as identity's relay will, before identity exists."""
    settings = MessagingSettings(service_name="identity", amqp_url=stack.amqp_url)
    broker = create_broker(settings)
    await broker.connect()
    try:
        yield EventProducer(broker, settings)
    finally:
        await broker.stop()
