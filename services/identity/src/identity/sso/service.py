"""Signing in through an OpenID Connect provider: the first sign-in registers the person
(or links the person already registered with that verified address); every sign-in starts
a login as a password would."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

from chassis.clock import Clock, utc_now
from chassis.errors import NotFound
from chassis.storage.unit_of_work import Scopes, UnitOfWork
from identity.invitations.service import Invitations, InvitationsTransaction
from identity.people import with_personal_organization
from identity.sso.domain import SsoLink
from identity.sso.provider import SsoProvider, SsoRefused
from identity.sso.repository import SsoLinkQueries, SsoLinkRepository
from identity.tokens.service import Session, TokenService, TokensTransaction
from identity.users.domain import UserKind
from identity.users.repository import UserQueries


class UnknownProvider(NotFound):
    pass


class SsoTransaction(TokensTransaction, InvitationsTransaction, Protocol):
    @property
    def sso_links(self) -> SsoLinkRepository: ...


@dataclass(frozen=True)
class AuthorizationCode:
    """What the provider redirected back with, and what the client sent to get it."""

    provider: str
    code: str
    code_verifier: str
    redirect_uri: str
    # An invitation the person accepts as they sign in.
    invitation_token: str | None = None

    def __repr__(self) -> str:
        return f"AuthorizationCode(provider={self.provider!r})"


class SsoService:
    def __init__(
        self,
        uow: UnitOfWork[SsoTransaction],
        providers: Mapping[str, SsoProvider],
        tokens: TokenService,
        links: SsoLinkQueries,
        users: UserQueries,
        invitations: Invitations,
        *,
        operator_emails: Collection[str],
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        self._providers = providers
        self._tokens = tokens
        self._links = links
        self._users = users
        self._invitations = invitations
        self._operators = frozenset(e.lower() for e in operator_emails)
        self._clock = clock

    @property
    def providers(self) -> list[str]:
        return sorted(self._providers)

    async def authenticate(self, grant: AuthorizationCode) -> Session:
        provider = self._providers.get(grant.provider)
        if provider is None:
            raise UnknownProvider(
                f"unknown provider {grant.provider!r}; known: {', '.join(self.providers)}"
            )
        # Refused before the provider spends the code on a sign-in that cannot complete.
        invited = (
            None
            if grant.invitation_token is None
            else await self._invitations.pending(grant.invitation_token)
        )
        person = await provider.exchange(grant.code, grant.code_verifier, grant.redirect_uri)
        if not person.email_verified:
            raise SsoRefused(f"{grant.provider} has not verified {person.email}; verify it there")
        email = person.email.lower()
        # Made now in case this is the person's first sign-in: the unit of work acts for
        # their organization, which must be known before it starts.
        founded = with_personal_organization(
            UserKind.PERSON,
            self._clock(),
            name=" ".join(n for n in (person.first_name, person.last_name) if n) or email,
            email=email,
            first_name=person.first_name,
            last_name=person.last_name,
            operator=email in self._operators,
        )
        known = await self._links.user_of(person.provider, person.subject)
        if known is None:
            registered = await self._users.by_email(email)
            known = registered.id if registered else None
        tenant = await self._users.tenant_of(known) if known else founded.organization.id

        async def work(transaction: Scopes[SsoTransaction]) -> Session:
            now = self._clock()
            tx = transaction.scope(tenant, known or founded.user.id)
            link = await tx.sso_links.get(person.provider, person.subject)
            user = await tx.users.get(link.user_id) if link else await tx.users.by_email(email)
            if user is None:
                user = founded.user
                await tx.users.add(user)
                await tx.organizations.add(founded.organization)
            if link is None:
                link = SsoLink.link(person.provider, person.subject, user.id, now)
                await tx.sso_links.add(link)
            link.signed_in()
            if invited is not None:
                user = await self._invitations.accept(transaction, invited, user.id, now)
            return await self._tokens.start(tx, user, now)

        return await self._uow.atomically(work)
