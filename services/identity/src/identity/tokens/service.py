"""Use cases of tokens: a session's tokens on login, refresh with rotation and reuse
detection, revocation; and the signing keys, loaded, reloaded and rotated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from chassis.clock import Clock, utc_now
from chassis.errors import Conflict, Unauthenticated
from chassis.logging import get_logger
from chassis.parts import Check
from chassis.storage.unit_of_work import UnitOfWork
from identity.opaque import Secret, digest
from identity.tokens.access import AccessToken, AccessTokens
from identity.tokens.domain import RefreshToken
from identity.tokens.repository import (
    RefreshTokenQueries,
    RefreshTokenRepository,
    SigningKeyQueries,
    SigningKeyRepository,
)
from identity.tokens.signing import Keyring, SigningKey
from identity.users.domain import EndUser
from identity.users.repository import UserQueries, UserRepository, run_as

log = get_logger(__name__)
REFRESH_PREFIX = "rt_"


class RefreshRefused(Unauthenticated):
    pass


class TokensTransaction(Protocol):
    @property
    def users(self) -> UserRepository: ...

    @property
    def refresh_tokens(self) -> RefreshTokenRepository: ...

    @property
    def signing_keys(self) -> SigningKeyRepository: ...


@dataclass(frozen=True)
class Session:
    """What a client holds after logging in: the refresh token only it ever sees."""

    user_id: str
    access: AccessToken
    refresh_token: str
    refresh_expires_at: datetime


class TokenService:
    def __init__(
        self,
        uow: UnitOfWork[TokensTransaction],
        access: AccessTokens,
        refresh_lifetime: timedelta,
        tokens: RefreshTokenQueries,
        users: UserQueries,
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        self.access = access
        self._refresh_lifetime = refresh_lifetime
        self._tokens = tokens
        self._users = users
        self._clock = clock

    async def start(self, tx: TokensTransaction, user: EndUser, now: datetime) -> Session:
        """A new login's tokens, its refresh token stored in `tx` (a new family)."""
        secret = Secret.new(REFRESH_PREFIX)
        token = RefreshToken.start_family(secret.digest, user.id, now, self._refresh_lifetime)
        await tx.refresh_tokens.add(token)
        return Session(user.id, self.access.issue(user, now), secret.value, token.expires_at)

    async def refresh(self, refresh_token: str) -> Session:
        """New tokens for a refresh token, which is spent. A spent one presented again
        revokes its whole family: whoever holds the newer tokens must log in again."""
        found = await self._known(refresh_token)

        async def work(tx: TokensTransaction) -> Session | RefreshRefused:
            now = self._clock()
            token = await tx.refresh_tokens.get(found.digest)
            if token is None:
                return RefreshRefused("the refresh token is not valid")
            if token.reused:
                token.revoke_family(now, "a spent refresh token was presented again")
                await tx.refresh_tokens.revoke_family(token.family_id, now)
                await tx.refresh_tokens.save(token)
                return RefreshRefused(
                    "this refresh token was used already, so every token of its login is "
                    "revoked: log in again"
                )
            user = await tx.users.get(token.user_id)
            if not token.usable(now) or user is None:
                return RefreshRefused("the refresh token has expired or was revoked")
            secret = Secret.new(REFRESH_PREFIX)
            successor = token.rotate(secret.digest, now, self._refresh_lifetime)
            await tx.refresh_tokens.save(token)
            await tx.refresh_tokens.add(successor)
            return Session(
                user.id, self.access.issue(user, now), secret.value, successor.expires_at
            )

        outcome = await run_as(self._uow, self._users, found.user_id, work)
        if isinstance(outcome, RefreshRefused):
            raise outcome
        return outcome

    async def revoke(self, refresh_token: str) -> None:
        """End the login the token belongs to (log out); an unknown token needs nothing."""
        try:
            found = await self._known(refresh_token)
        except RefreshRefused:
            return

        async def work(tx: TokensTransaction) -> None:
            now = self._clock()
            token = await tx.refresh_tokens.get(found.digest)
            if token is None or token.revoked_at is not None:
                return
            token.revoke_family(now, "revoked by its holder")
            await tx.refresh_tokens.revoke_family(token.family_id, now)
            await tx.refresh_tokens.save(token)

        await run_as(self._uow, self._users, found.user_id, work)

    async def _known(self, refresh_token: str) -> RefreshToken:
        token = await self._tokens.get(digest(refresh_token))
        if token is None:
            raise RefreshRefused("the refresh token is not valid")
        return token


class SigningKeys:
    """The keyring of this process, kept in step with the keys every instance shares in
    MongoDB: loaded at start (a first key made if there is none), reloaded periodically
    (`refresh`), and rotated on request or once the newest key is `max_age` old. A new key
    signs `publication` after it is made: every verifier refetching the key set on an unknown
    kid (at most every 10 s, the chassis' `MIN_REFRESH_SECONDS`) has it by then."""

    def __init__(
        self,
        uow: UnitOfWork[TokensTransaction],
        keys: SigningKeyQueries,
        keyring: Keyring,
        *,
        max_age: timedelta,
        publication: timedelta,
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        self._keys = keys
        self.keyring = keyring
        self._max_age = max_age
        self._publication = publication
        self._clock = clock

    async def start(self) -> None:
        await self.load()
        if self.keyring.newest is None:
            # Nobody can hold a token yet: the first key signs at once.
            await self.rotate(actor_id=None, publication=timedelta(0))

    async def stop(self) -> None:
        return None

    def checks(self) -> dict[str, Check]:
        return {}

    async def load(self) -> None:
        self.keyring.replace(await self._keys.all())

    async def refresh(self) -> None:
        await self.load()
        newest = self.keyring.newest
        if newest is not None and self._clock() - newest.created_at >= self._max_age:
            try:
                await self.rotate(actor_id=None)
            except Conflict:
                # Another instance rotated it first; its key is loaded next time.
                log.info("signing_key.rotated_elsewhere", kid=newest.kid)

    async def rotate(
        self, actor_id: str | None, publication: timedelta | None = None
    ) -> SigningKey:
        """A new signing key, published now and signing after `publication`; the key it
        replaces signs until then and verifies until every token it signed has expired."""
        now = self._clock()
        takes_over = now + (self._publication if publication is None else publication)
        current = self.keyring.newest
        key = SigningKey.generate(now, takes_over, replaces=[current.kid] if current else [])

        async def work(tx: TokensTransaction) -> None:
            if current is not None and not await tx.signing_keys.retire(current.kid, takes_over):
                raise Conflict(f"signing key {current.kid} was rotated meanwhile; try again")
            await tx.signing_keys.add(key)

        await self._uow.run(work, tenant_id=None, actor_id=actor_id)
        await self.load()
        log.info("signing_key.rotated", kid=key.kid)
        return key
