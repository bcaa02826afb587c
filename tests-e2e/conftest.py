"""The whole system as processes behind the gateway, driven over HTTP only.

Tests call the API as `PlatformClient`s, one per caller, each a person registered through
identity, confirmed with the token of the email the SMTP server received, and logged in: a
tenant is a person's own organization, which they own; an operator registered with an address
of the system's OPERATOR_EMAILS; a member who owns nothing joined a shared organization.
People cost a password hash and an email each, so a module shares its people where its tests
allow. Tests look into the services' databases only for what the API cannot show: that refused
input stored nothing (pending bookings included), identity's signing key (to forge tokens the
gateway must refuse), that no secret is stored in clear, and, in the resilience tests, the
writes MongoDB recorded for bookings' projection, to count what was applied.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from jose import jwt
from pymongo import AsyncMongoClient

from chassis.config import MessagingSettings
from chassis.messaging.broker import create_broker
from devstack import infra
from devstack.run import running_simulator
from devstack.services import GATEWAY, SERVICES
from devstack.simulators import Simulator
from devstack.system import LOCALHOST, StackSettings, System, free_ports
from identity.tokens.repository import SIGNING_KEYS
from simulators.mailbox import Mailbox
from testkit.analytics import AnalyticsSimulator, simulator_process
from testkit.api import PlatformClient
from testkit.fixtures import EventProducer, Stack, TestInfra
from testkit.identity import People, Person, delivered_tokens
from testkit.oidc import OidcSimulator, identity_settings
from testkit.oidc import simulator_process as oidc_process
from testkit.s3 import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Bucket
from testkit.stored import Databases
from testkit.tokens import DevSigningKey

HERE = Path(__file__).parent
# People registering with this address become operators (identity's OPERATOR_EMAILS).
OPERATOR_EMAIL = "operator@e2e.example.com"
IMAGES_BUCKET = "e2e-images"
# Encrypts identity's signing keys in its database; the attacks read the key with it.
SIGNING_KEY_PASSPHRASE = "the e2e system's passphrase"


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
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcSimulator]:
    """The OpenID Connect provider identity signs people in with, as its own process."""
    log_dir = tmp_path_factory.mktemp("oidc")
    with oidc_process(free_ports(["oidc"])["oidc"], log_dir) as simulator:
        yield simulator


@pytest.fixture(scope="session")
def gravatar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """The Gravatar simulator profiles finds default avatars at, as its own process."""
    with running_simulator("gravatar", tmp_path_factory.mktemp("gravatar")) as simulator:
        yield simulator


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """The S3 API server (moto's) images keeps its files in, as its own process."""
    with running_simulator("s3", tmp_path_factory.mktemp("s3")) as simulator:
        yield simulator


@pytest.fixture(scope="session")
def bucket(s3: Simulator) -> S3Bucket:
    """The bucket of images, read straight from the S3 server."""
    return S3Bucket(s3.client_env(LOCALHOST)["S3_ENDPOINT_URL"], IMAGES_BUCKET)


@pytest.fixture(scope="session")
def system(
    test_infra: TestInfra,
    stack: Stack,
    mailbox: Mailbox,
    analytics: AnalyticsSimulator,
    oidc: OidcSimulator,
    gravatar: Simulator,
    s3: Simulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[System]:
    ports = free_ports(s.name for s in SERVICES)
    settings = StackSettings(
        mongo_url=test_infra.mongo_url,
        amqp_url=stack.amqp_url,
        log_dir=tmp_path_factory.mktemp("logs"),
        ports=ports,
        db_prefix=stack.db_prefix,
        python=sys.executable,
        # Short lease and retry delay so that crash recovery shows within a test's patience.
        env={"OUTBOX_LEASE_SECONDS": "3", "RETRY_DELAY_MS": "200", "LOG_LEVEL": "INFO"},
        service_env={
            "emails": {
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(mailbox.port),
                # The emailed links lead to this system's gateway, which serves their pages.
                "WEBSITE_URL": f"http://{LOCALHOST}:{ports[GATEWAY]}",
            },
            "gateway": {
                # Every person of the suite registers and logs in from 127.0.0.1: the stricter
                # per-address limits of those routes are the gateway tests' to prove.
                "ROUTE_RATE_LIMITS": "[]",
                # A deleted API key is refused once its cached exchange is this old.
                "API_KEY_CACHE_SECONDS": "1",
            },
            "identity": {
                "OPERATOR_EMAILS": OPERATOR_EMAIL,
                "SIGNING_KEY_PASSPHRASE": SIGNING_KEY_PASSPHRASE,
                **identity_settings(oidc),
            },
            "images": {
                **s3.client_env(LOCALHOST),
                "S3_BUCKET": IMAGES_BUCKET,
                "S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
                "BLOB_SWEEP_SECONDS": "0.5",
            },
            "profiles": gravatar.client_env(LOCALHOST),
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


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """One connection pool for the session: people made once serve many tests."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="session")
def gateway(system: System) -> str:
    return system.gateway_url


@pytest.fixture(scope="session")
def anonymous(http: aiohttp.ClientSession, gateway: str) -> PlatformClient:
    """A caller that sends no credentials (it may still send an `Authorization` of its own)."""
    return PlatformClient(http, gateway, None)


@pytest.fixture(scope="session")
def people(anonymous: PlatformClient, mailbox: Mailbox) -> People:
    """Registers, confirms (with the emailed link's token) and logs in people."""

    async def received() -> list[EmailMessage]:
        return mailbox.messages()

    return People(anonymous, delivered_tokens(received))


@pytest.fixture(scope="session")
async def operator(people: People) -> Person:
    """An operator of the platform, acting for their own organization."""
    return await people.person(OPERATOR_EMAIL)


@pytest.fixture(scope="module")
async def person(people: People) -> Person:
    """The module's own person: their organization is the module's tenant, which they own."""
    return await people.person()


@pytest.fixture(scope="module")
def tenant(person: Person) -> str:
    return person.organization_id


@pytest.fixture(scope="module")
def client(person: Person) -> PlatformClient:
    """The module's own caller, the owner of the tenant."""
    return person.api


@pytest.fixture
async def database(test_infra: TestInfra, stack: Stack) -> AsyncIterator[Databases]:
    """A service's database by service name."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(test_infra.mongo_url)
    yield lambda service: client[f"{stack.db_prefix}{service}"]
    await client.close()


@pytest.fixture
async def identity(stack: Stack) -> AsyncIterator[EventProducer]:
    """Publishes on the system's vhost as identity's relay does: again what it sent, or what
    it does not send yet."""
    settings = MessagingSettings(service_name="identity", amqp_url=stack.amqp_url)
    broker = create_broker(settings)
    await broker.connect()
    try:
        yield EventProducer(broker, settings)
    finally:
        await broker.stop()


@pytest.fixture(scope="session")
async def identity_key(test_infra: TestInfra, stack: Stack, operator: Person) -> DevSigningKey:
    """The key identity signs access tokens with, read from its database: for tokens only an
    attacker holding it could make (expired, without an audience, ...), which must be refused
    for what they say, not for their signature."""
    kid = jwt.get_unverified_header(operator.access_token)["kid"]
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(test_infra.mongo_url)
    try:
        stored = await client[f"{stack.db_prefix}identity"][SIGNING_KEYS].find_one({"_id": kid})
    finally:
        await client.close()
    assert stored is not None, f"identity keeps no key {kid}"
    key = serialization.load_pem_private_key(
        stored["private_pem"].encode(), password=SIGNING_KEY_PASSPHRASE.encode()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return DevSigningKey(pem, kid)
