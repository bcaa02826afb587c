"""Composition root of the identity service: settings, wiring, run."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from aiohttp import web
from pydantic import Field, SecretStr

from chassis.clock import Clock, utc_now
from chassis.config import ServiceSettings
from chassis.jobs import Jobs
from chassis.logging import configure_logging
from chassis.messaging.bus import MessageBus
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import MongoUnitOfWork
from chassis.web.app import run, service_app
from chassis.web.verified_tokens import CachingVerifier
from identity import handlers, pages
from identity.apikeys import api as apikeys_api
from identity.apikeys.repository import ApiKeyQueries
from identity.apikeys.service import ApiKeyService
from identity.credentials import api as credentials_api
from identity.credentials.hashing import Argon2Hasher, HashParameters
from identity.credentials.repository import CredentialQueries
from identity.credentials.service import CredentialService
from identity.events import integration_events
from identity.invitations import api as invitations_api
from identity.invitations.repository import InvitationQueries
from identity.invitations.service import Invitations
from identity.machines import api as machines_api
from identity.machines.service import MachineService
from identity.organizations import api as organizations_api
from identity.organizations.billing import SandboxBilling
from identity.organizations.repository import OrganizationQueries
from identity.organizations.service import OrganizationService
from identity.organizations.signup import CompanySignup
from identity.sso import api as sso_api
from identity.sso.provider import OidcProvider, SsoProvider
from identity.sso.repository import SsoLinkQueries
from identity.sso.service import SsoService
from identity.sso.settings import SsoSettings
from identity.tokens import api as tokens_api
from identity.tokens.access import AccessTokens
from identity.tokens.repository import RefreshTokenQueries, SigningKeyQueries
from identity.tokens.service import SigningKeys, TokenService
from identity.tokens.signing import Keyring
from identity.transaction import INDEXES, transactions
from identity.users import api as users_api
from identity.users.repository import UserQueries
from identity.users.service import UserService


class IdentitySettings(ServiceSettings, SsoSettings):
    service_name: str = "identity"
    port: int = 8109

    access_token_minutes: float = Field(default=15, gt=0, le=60)
    refresh_token_days: float = Field(default=14, gt=0, le=90)
    # Encrypts the signing keys' private halves in MongoDB; set a real secret in production.
    signing_key_passphrase: SecretStr = SecretStr("development passphrase, not a secret")
    # A signing key signs this long, then a new one takes over.
    signing_key_days: float = Field(default=30, gt=0)
    # A new key is published this long before it signs: longer than verifiers wait between
    # refetches of the JWKS on an unknown kid (10 s), and than identity's own reload below.
    signing_key_publication_seconds: float = Field(default=45, ge=0)
    # How often each instance rereads the keys (another instance may have rotated them).
    signing_key_reload_seconds: float = Field(default=30, gt=0)
    confirmation_hours: float = Field(default=48, gt=0)
    reset_minutes: float = Field(default=60, gt=0)
    invitation_days: float = Field(default=14, gt=0)
    # Comma-separated: people registering with these addresses get the operations role.
    operator_emails: str = ""
    password_hash: HashParameters = HashParameters()
    # Threads hashing passwords at once; each holds `password_hash.memory_kib` while it works.
    password_hash_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    # The access token an API key is exchanged for: short, as the gateway asks again after
    # caching it a few seconds, so a deleted key stops working within those seconds.
    api_key_token_minutes: float = Field(default=5, gt=0, le=15)

    @property
    def operators(self) -> list[str]:
        return [e.strip().lower() for e in self.operator_emails.split(",") if e.strip()]


def create_app(settings: IdentitySettings, clock: Clock = utc_now) -> web.Application:
    mongo = Mongo.of(settings, INDEXES)
    bus = MessageBus(settings, mongo)
    passphrase = settings.signing_key_passphrase.get_secret_value().encode()
    uow = MongoUnitOfWork(mongo, transactions(passphrase), integration_events, bus.relay)
    access_lifetime = timedelta(minutes=settings.access_token_minutes)
    keyring = Keyring(access_lifetime)
    keys = SigningKeys(
        uow,
        SigningKeyQueries(mongo, passphrase),
        keyring,
        max_age=timedelta(days=settings.signing_key_days),
        publication=timedelta(seconds=settings.signing_key_publication_seconds),
        clock=clock,
    )
    access = AccessTokens(
        keyring,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        lifetime=access_lifetime,
    )
    users = UserQueries(mongo)
    tokens = TokenService(
        uow,
        access,
        timedelta(days=settings.refresh_token_days),
        RefreshTokenQueries(mongo),
        users,
        clock,
    )
    organization_queries = OrganizationQueries(mongo)
    invitations = Invitations(
        uow,
        InvitationQueries(mongo),
        organization_queries,
        timedelta(days=settings.invitation_days),
        clock,
    )
    hasher = Argon2Hasher(settings.password_hash, settings.password_hash_threads)
    credentials = CredentialService(
        uow,
        hasher,
        tokens,
        CredentialQueries(mongo),
        users,
        invitations,
        operator_emails=settings.operators,
        confirmation_lifetime=timedelta(hours=settings.confirmation_hours),
        reset_lifetime=timedelta(minutes=settings.reset_minutes),
        clock=clock,
    )
    providers: dict[str, SsoProvider] = {p.name: OidcProvider(p) for p in settings.sso_providers}
    sso = SsoService(
        uow,
        providers,
        tokens,
        SsoLinkQueries(mongo),
        users,
        invitations,
        operator_emails=settings.operators,
        clock=clock,
    )
    api_keys = ApiKeyService(
        uow,
        ApiKeyQueries(mongo),
        users,
        access,
        exchange_lifetime=timedelta(minutes=settings.api_key_token_minutes),
        clock=clock,
    )
    machines = MachineService(uow, clock)
    # The sandbox until a real provider's adapter is configured here.
    billing = SandboxBilling()
    organizations = OrganizationService(uow, billing, clock)
    signup = CompanySignup(uow, credentials, users, billing, clock)
    handlers.subscribe(bus.subscriptions(uow), organizations)
    jobs = Jobs()
    jobs.every(settings.signing_key_reload_seconds, "signing_keys.refresh", keys.refresh)
    routes = [
        *credentials_api.routes(credentials),
        *tokens_api.routes(tokens, keys, clock),
        *users_api.routes(UserService(uow, users), users),
        *sso_api.routes(sso),
        *pages.routes(credentials, invitations),
        *apikeys_api.routes(api_keys),
        *machines_api.routes(machines),
        *organizations_api.routes(organizations, organization_queries, users, invitations, signup),
        *invitations_api.routes(invitations),
    ]
    app = service_app(
        settings, routes, [mongo, bus, keys, jobs], verifier=own_tokens(settings, keys)
    )

    async def stop_hashing(_: web.Application) -> None:
        hasher.close()

    app.on_cleanup.append(stop_hashing)
    return app


def own_tokens(settings: IdentitySettings, keys: SigningKeys) -> CachingVerifier:
    """Identity verifies the tokens it issued against its own keyring, not over HTTP."""

    async def jwks() -> dict[str, Any]:
        return keys.keyring.jwks(utc_now())

    return CachingVerifier.of(settings, own_keys=jwks)


def main() -> None:
    settings = IdentitySettings()
    configure_logging(settings.service_name, settings.log_level)
    run(create_app(settings), settings)
