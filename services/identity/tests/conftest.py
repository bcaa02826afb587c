"""Fixtures of the identity tests: the service on the real MongoDB and RabbitMQ, served over
HTTP, and the emails it asks for as RabbitMQ delivers them to a queue of the test's own."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from pymongo import AsyncMongoClient

from chassis.storage.unit_of_work import Recording
from identity.credentials.domain import PasswordCredential
from identity.credentials.service import CredentialService
from identity.events import integration_events
from identity.invitations.domain import Invitation, InvitationStatus
from identity.invitations.service import Invitations
from identity.main import IdentitySettings, create_app
from identity.organizations.billing import SandboxBilling
from identity.organizations.domain import Organization
from identity.organizations.service import OrganizationService
from identity.tokens.access import AccessTokens
from identity.tokens.domain import RefreshToken
from identity.tokens.service import TokenService
from identity.tokens.signing import Keyring, SigningKey
from identity.users.domain import EndUser
from identity.users.repository import EmailTaken
from testkit.api import PlatformClient
from testkit.fixtures import TestInfra
from testkit.identity import Mailbag, People, Person, new_email
from testkit.memory import InMemoryUnitOfWork
from testkit.rabbit import Rabbit
from testkit.stored import Database
from testkit.web import serving

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
OPERATOR = "ops@example.com"
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


# --- in memory ----------------------------------------------------------------------------------
# The use cases on testkit's in-memory unit of work: identity's state in plain dictionaries, the
# repositories over them, and the queries a service reads outside its transactions, over the
# state committed so far.


@dataclass
class Directory:
    users: dict[str, EndUser] = field(default_factory=dict)
    credentials: dict[str, PasswordCredential] = field(default_factory=dict)
    organizations: dict[str, Organization] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    invitations: dict[str, Invitation] = field(default_factory=dict)


class _Tracked:
    def __init__(self, directory: Directory, recording: Recording) -> None:
        self._directory = directory
        self._recording = recording

    def _tracked(self, added: Any) -> Any:
        self._recording.track(added)
        return added

    def _found(self, found: Any) -> Any:
        """A copy, as a document read back is: a change not saved is not kept."""
        return None if found is None else self._tracked(copy.deepcopy(found))


class InMemoryUsers(_Tracked):
    async def get(self, user_id: str) -> EndUser | None:
        return self._found(self._directory.users.get(user_id))

    async def by_email(self, email: str) -> EndUser | None:
        found = (u for u in self._directory.users.values() if u.email == email.lower())
        return self._found(next(found, None))

    async def add(self, user: EndUser) -> None:
        if user.email and any(u.email == user.email for u in self._directory.users.values()):
            raise EmailTaken(f"{user.email} is registered already")
        self._directory.users[user.id] = self._tracked(user)

    async def save(self, user: EndUser) -> None:
        self._directory.users[user.id] = user


class InMemoryCredentials(_Tracked):
    def _first(self, match: Callable[[PasswordCredential], bool]) -> PasswordCredential | None:
        found = (c for c in self._directory.credentials.values() if match(c))
        return self._found(next(found, None))

    async def by_email(self, email: str) -> PasswordCredential | None:
        return self._first(lambda c: c.email == email.lower())

    async def by_confirmation(self, digest: str) -> PasswordCredential | None:
        return self._first(lambda c: c.confirmation is not None and c.confirmation.digest == digest)

    async def by_reset(self, digest: str) -> PasswordCredential | None:
        return self._first(lambda c: c.reset is not None and c.reset.digest == digest)

    async def add(self, credential: PasswordCredential) -> None:
        if await self.by_email(credential.email):
            raise EmailTaken(f"{credential.email} is registered already")
        self._directory.credentials[credential.user_id] = self._tracked(credential)

    async def save(self, credential: PasswordCredential) -> None:
        self._directory.credentials[credential.user_id] = credential


class InMemoryOrganizations(_Tracked):
    async def get(self, organization_id: str) -> Organization | None:
        return self._found(self._directory.organizations.get(organization_id))

    async def add(self, organization: Organization) -> None:
        self._directory.organizations[organization.id] = self._tracked(organization)

    async def save(self, organization: Organization) -> None:
        self._directory.organizations[organization.id] = organization


class InMemoryRefreshTokens(_Tracked):
    async def get(self, digest: str) -> RefreshToken | None:
        return self._found(self._directory.refresh_tokens.get(digest))

    async def add(self, token: RefreshToken) -> None:
        self._directory.refresh_tokens[token.digest] = token

    async def save(self, token: RefreshToken) -> None:
        self._directory.refresh_tokens[token.digest] = token

    async def revoke_family(self, family_id: str, now: datetime) -> None:
        self._revoke(lambda token: token.family_id == family_id, now)

    async def revoke_user(self, user_id: str, now: datetime) -> None:
        self._revoke(lambda token: token.user_id == user_id, now)

    def _revoke(self, match: Callable[[RefreshToken], bool], now: datetime) -> None:
        for token in self._directory.refresh_tokens.values():
            if match(token) and token.revoked_at is None:
                token.revoked_at = now


class InMemoryInvitations(_Tracked):
    async def get(self, invitation_id: str) -> Invitation | None:
        return self._found(self._directory.invitations.get(invitation_id))

    async def by_token(self, digest: str) -> Invitation | None:
        found = (i for i in self._directory.invitations.values() if i.token_digest == digest)
        return self._found(next(found, None))

    async def pending(self, organization_id: str, email: str) -> Invitation | None:
        found = (
            i
            for i in self._directory.invitations.values()
            if (i.organization_id, i.email, i.status)
            == (organization_id, email.lower(), InvitationStatus.PENDING)
        )
        return self._found(next(found, None))

    async def add(self, invitation: Invitation) -> None:
        self._directory.invitations[invitation.id] = self._tracked(invitation)

    async def save(self, invitation: Invitation) -> None:
        self._directory.invitations[invitation.id] = invitation


class InMemoryIdentityTransaction:
    def __init__(self, directory: Directory, recording: Recording) -> None:
        self.users = InMemoryUsers(directory, recording)
        self.credentials = InMemoryCredentials(directory, recording)
        self.organizations = InMemoryOrganizations(directory, recording)
        self.refresh_tokens = InMemoryRefreshTokens(directory, recording)
        self.invitations = InMemoryInvitations(directory, recording)
        self.publish = recording.publish


IdentityUoW = InMemoryUnitOfWork[Directory, InMemoryIdentityTransaction]


class Committed:
    """What a use case reads before its transaction, over the state committed so far: copies,
    as documents read back would be."""

    def __init__(self, uow: IdentityUoW) -> None:
        self._uow = uow

    def _first(self, items: Iterable[Any], match: Callable[[Any], bool]) -> Any:
        return copy.deepcopy(next((item for item in items if match(item)), None))


class CommittedUsers(Committed):
    async def user(self, user_id: str) -> EndUser | None:
        return copy.deepcopy(self._uow.state.users.get(user_id))

    async def by_email(self, email: str) -> EndUser | None:
        return self._first(self._uow.state.users.values(), lambda u: u.email == email.lower())

    async def tenant_of(self, user_id: str) -> str | None:
        user = self._uow.state.users.get(user_id)
        return user.default_organization_id if user else None


class CommittedCredentials(Committed):
    def _match(self, match: Callable[[PasswordCredential], bool]) -> PasswordCredential | None:
        found: PasswordCredential | None = self._first(self._uow.state.credentials.values(), match)
        return found

    async def by_email(self, email: str) -> PasswordCredential | None:
        return self._match(lambda c: c.email == email.lower())

    async def by_confirmation(self, digest: str) -> PasswordCredential | None:
        return self._match(lambda c: c.confirmation is not None and c.confirmation.digest == digest)

    async def by_reset(self, digest: str) -> PasswordCredential | None:
        return self._match(lambda c: c.reset is not None and c.reset.digest == digest)


class CommittedRefreshTokens(Committed):
    async def get(self, digest: str) -> RefreshToken | None:
        return copy.deepcopy(self._uow.state.refresh_tokens.get(digest))


class CommittedInvitations(Committed):
    async def get(self, invitation_id: str) -> Invitation | None:
        return copy.deepcopy(self._uow.state.invitations.get(invitation_id))

    async def by_token(self, digest: str) -> Invitation | None:
        found: Invitation | None = self._first(
            self._uow.state.invitations.values(), lambda i: i.token_digest == digest
        )
        return found


class CommittedOrganizations(Committed):
    async def organization(self, organization_id: str) -> Organization | None:
        return copy.deepcopy(self._uow.state.organizations.get(organization_id))


class PlainHasher:
    """Hashing that costs nothing, counting what it is asked: the use cases' rules, not
    argon2's, are under test here."""

    def __init__(self) -> None:
        self.wasted = 0

    async def hash(self, password: str) -> str:
        return f"plain:{password}"

    async def verify(self, password: str, password_hash: str) -> bool:
        return password_hash == f"plain:{password}"

    async def waste(self, password: str) -> None:
        self.wasted += 1


@dataclass
class Identity:
    """Identity's use cases wired on the in-memory unit of work, at a clock the test moves."""

    uow: IdentityUoW
    clock: list[datetime]
    hasher: PlainHasher
    credentials: CredentialService
    tokens: TokenService
    organizations: OrganizationService
    invitations: Invitations

    def later(self, delta: timedelta) -> None:
        self.clock[0] += delta


@pytest.fixture(scope="session")
def keyring() -> Keyring:
    keyring = Keyring(timedelta(minutes=15))
    keyring.replace([SigningKey.generate(NOW, NOW)])
    return keyring


@pytest.fixture
def identity(keyring: Keyring) -> Identity:
    uow: IdentityUoW = InMemoryUnitOfWork(
        Directory(), InMemoryIdentityTransaction, integration_events
    )
    moment = [NOW]

    def clock() -> datetime:
        return moment[0]

    users = CommittedUsers(uow)
    access = AccessTokens(
        keyring, issuer="platform-identity", audience="platform", lifetime=timedelta(minutes=15)
    )
    tokens = TokenService(
        uow, access, timedelta(days=14), CommittedRefreshTokens(uow), users, clock
    )
    invitations = Invitations(
        uow, CommittedInvitations(uow), CommittedOrganizations(uow), clock=clock
    )
    hasher = PlainHasher()
    credentials = CredentialService(
        uow,
        hasher,
        tokens,
        CommittedCredentials(uow),
        users,
        invitations,
        operator_emails=[OPERATOR],
        confirmation_lifetime=timedelta(hours=48),
        reset_lifetime=timedelta(hours=1),
        clock=clock,
    )
    organizations = OrganizationService(uow, SandboxBilling(), clock)
    return Identity(uow, moment, hasher, credentials, tokens, organizations, invitations)
