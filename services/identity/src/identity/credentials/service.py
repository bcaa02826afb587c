"""Use cases of password credentials: register, confirm, log in, reset the password."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from chassis.clock import Clock, utc_now
from chassis.errors import DomainError, Unauthenticated
from chassis.logging import new_id
from chassis.records import refused
from chassis.storage.unit_of_work import Scopes, UnitOfWork
from contracts import IntegrationEvent
from identity.credentials.domain import PasswordCredential, TokenNotValid, check_policy
from identity.credentials.hashing import PasswordHasher
from identity.credentials.repository import CredentialQueries, CredentialRepository
from identity.invitations.service import Invitations, InvitationsTransaction
from identity.opaque import Secret, digest
from identity.people import with_personal_organization
from identity.tokens.service import Session, TokenService, TokensTransaction
from identity.users.domain import EndUser, UserKind, checked_timezone
from identity.users.repository import UserQueries, run_as


class LoginRefused(Unauthenticated):
    pass


class CredentialsTransaction(TokensTransaction, InvitationsTransaction, Protocol):
    @property
    def credentials(self) -> CredentialRepository: ...

    def publish(self, event: IntegrationEvent) -> None: ...


@dataclass(frozen=True)
class NewPerson:
    email: str
    password: str
    first_name: str
    last_name: str
    timezone: str | None = None

    def __repr__(self) -> str:
        return f"NewPerson(email={self.email!r}, password=***)"


@dataclass(frozen=True)
class Enrolment:
    """A person about to be registered: checked, their password hashed, their ids chosen."""

    email: str
    password_hash: str = field(repr=False)
    first_name: str
    last_name: str
    timezone: str | None
    user_id: str
    organization_id: str


class CredentialService:
    def __init__(
        self,
        uow: UnitOfWork[CredentialsTransaction],
        hasher: PasswordHasher,
        tokens: TokenService,
        credentials: CredentialQueries,
        users: UserQueries,
        invitations: Invitations,
        *,
        operator_emails: Collection[str],
        confirmation_lifetime: timedelta,
        reset_lifetime: timedelta,
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._tokens = tokens
        self._credentials = credentials
        self._users = users
        self._invitations = invitations
        self._operators = frozenset(e.lower() for e in operator_emails)
        self._confirmation_lifetime = confirmation_lifetime
        self._reset_lifetime = reset_lifetime
        self._clock = clock

    async def register(self, person: NewPerson, invitation_token: str | None = None) -> EndUser:
        """A person with a personal organization, unconfirmed until the emailed token comes
        back; those listed as operators get the operations role. With an invitation's token
        they also join the inviting organization, and registering the invited address itself
        confirms it at once: the token came through that mailbox."""
        invited = (
            None if invitation_token is None else await self._invitations.pending(invitation_token)
        )
        enrolment = await self.prepare(person)

        async def work(transaction: Scopes[CredentialsTransaction]) -> EndUser:
            now = self._clock()
            tx = transaction.scope(enrolment.organization_id, enrolment.user_id)
            confirmed = invited is not None and invited.email == enrolment.email
            user = await self.enrol(tx, enrolment, now, confirmed=confirmed)
            if invited is None:
                return user
            return await self._invitations.accept(transaction, invited, user.id, now)

        return await self._uow.atomically(work)

    async def prepare(self, person: NewPerson) -> Enrolment:
        """Check the person's password and timezone and hash the password: the slow part of
        a registration, done before its transaction."""
        check_policy(person.password)
        checked_timezone(person.timezone)
        return Enrolment(
            email=person.email.lower(),
            password_hash=await self._hasher.hash(person.password),
            first_name=person.first_name,
            last_name=person.last_name,
            timezone=person.timezone,
            user_id=new_id(),
            organization_id=new_id(),
        )

    async def enrol(
        self,
        tx: CredentialsTransaction,
        enrolment: Enrolment,
        now: datetime,
        *,
        confirmed: bool = False,
    ) -> EndUser:
        """Within `tx` (acting for `enrolment.organization_id`), the person, their credential
        and their personal organization; the confirmation email unless `confirmed`."""
        founded = with_personal_organization(
            UserKind.PERSON,
            now,
            name=f"{enrolment.first_name} {enrolment.last_name}",
            email=enrolment.email,
            first_name=enrolment.first_name,
            last_name=enrolment.last_name,
            timezone=enrolment.timezone,
            operator=enrolment.email in self._operators,
            user_id=enrolment.user_id,
            organization_id=enrolment.organization_id,
        )
        credential = PasswordCredential.register(
            enrolment.user_id,
            enrolment.email,
            enrolment.first_name,
            enrolment.password_hash,
            confirmed=confirmed,
        )
        secret = Secret.new()
        credential.request_confirmation(
            secret.value, secret.digest, now, self._confirmation_lifetime
        )
        await tx.users.add(founded.user)
        await tx.credentials.add(credential)
        await tx.organizations.add(founded.organization)
        return founded.user

    async def confirm(self, token: str) -> str:
        """Confirm the address the token was sent to; the user's id."""
        token_digest = digest(token)
        known = await self._credentials.by_confirmation(token_digest)
        if known is None:
            raise TokenNotValid("the confirmation token is not valid")

        async def work(tx: CredentialsTransaction) -> str:
            credential = await tx.credentials.by_confirmation(token_digest)
            if credential is None:
                raise TokenNotValid("the confirmation token is not valid")
            credential.confirm(token_digest, self._clock())
            await tx.credentials.save(credential)
            return credential.user_id

        return await run_as(self._uow, self._users, known.user_id, work)

    async def authenticate(self, email: str, password: str) -> Session:
        """Log in. The fifth wrong password in a row locks the account for ten minutes; an
        unknown address costs as long as a wrong password, so timing tells nothing."""
        known = await self._credentials.by_email(email)
        if known is None:
            await self._hasher.waste(password)
            await self._refuse_unknown(email)
            raise LoginRefused("wrong email or password")
        # Hashing is slow: done before the transaction, and not at all while locked.
        matched = not known.locked(self._clock()) and await self._hasher.verify(
            password, known.password_hash
        )

        async def work(tx: CredentialsTransaction) -> Session | DomainError:
            now = self._clock()
            credential = await tx.credentials.by_email(email)
            user = await tx.users.get(known.user_id)
            if credential is None or user is None:
                return LoginRefused("wrong email or password")
            counted = (credential.failed_attempts, credential.locked_until)
            try:
                if credential.locked(now):
                    credential.refuse_while_locked(now)
                if not matched:
                    credential.password_failed(now)
                    return LoginRefused("wrong email or password")
                credential.password_matched()
                return await self._tokens.start(tx, user, now)
            except DomainError as refusal:
                # Refused, and the refusal is kept: it counts, and it is audited.
                return refusal
            finally:
                # Saved when the count of failures changed: most logins change nothing but
                # what they publish (the aggregate is tracked for that all the same).
                if (credential.failed_attempts, credential.locked_until) != counted:
                    await tx.credentials.save(credential)

        outcome = await run_as(self._uow, self._users, known.user_id, work)
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    async def _refuse_unknown(self, email: str) -> None:
        """Audit a login of an address nobody registered, in a transaction as a wrong
        password's is, so the two take as long. The target is a digest of what was typed:
        people type passwords into the address field too."""

        async def work(tx: CredentialsTransaction) -> None:
            tx.publish(
                refused(
                    "identity.login_refused",
                    target=f"address:{digest(email.lower())[:16]}",
                    detail="unknown address",
                )
            )

        await self._uow.run(work, tenant_id=None)

    async def request_reset(self, email: str) -> None:
        """Email a reset link if the address is registered; say nothing either way."""
        known = await self._credentials.by_email(email)
        if known is None:
            return
        secret = Secret.new()

        async def work(tx: CredentialsTransaction) -> None:
            credential = await tx.credentials.by_email(email)
            if credential is None:
                return
            credential.request_reset(
                secret.value, secret.digest, self._clock(), self._reset_lifetime
            )
            await tx.credentials.save(credential)

        await run_as(self._uow, self._users, known.user_id, work)

    async def verify_reset(self, token: str) -> str:
        """The address a valid reset token was sent to."""
        credential = await self._credentials.by_reset(digest(token))
        if credential is None:
            raise TokenNotValid("the reset token is not valid")
        credential.check_reset(digest(token), self._clock())
        return credential.email

    async def complete_reset(self, token: str, password: str) -> None:
        """Set the new password; every login of the account so far is revoked."""
        check_policy(password)
        token_digest = digest(token)
        known = await self._credentials.by_reset(token_digest)
        if known is None:
            raise TokenNotValid("the reset token is not valid")
        password_hash = await self._hasher.hash(password)

        async def work(tx: CredentialsTransaction) -> None:
            now = self._clock()
            credential = await tx.credentials.by_reset(token_digest)
            if credential is None:
                raise TokenNotValid("the reset token is not valid")
            credential.complete_reset(token_digest, password_hash, now)
            await tx.credentials.save(credential)
            await tx.refresh_tokens.revoke_user(credential.user_id, now)

        await run_as(self._uow, self._users, known.user_id, work)
