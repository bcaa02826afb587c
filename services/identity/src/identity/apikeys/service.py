"""Use cases of API keys: create, delete and regenerate the caller's own, and exchange a key
for a short-lived access token (the gateway's hot path: two indexed reads, no transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from chassis.clock import Clock, utc_now
from chassis.errors import NotFound, Unauthenticated
from chassis.storage.unit_of_work import UnitOfWork
from chassis.web.auth import Caller
from identity.apikeys.domain import ApiKey, new_secret
from identity.apikeys.repository import ApiKeyQueries, ApiKeyRepository
from identity.opaque import digest
from identity.tokens.access import AccessToken, AccessTokens
from identity.users.repository import UserQueries


class ApiKeyNotFound(NotFound):
    pass


class ApiKeyRefused(Unauthenticated):
    pass


class ApiKeysTransaction(Protocol):
    @property
    def api_keys(self) -> ApiKeyRepository: ...


@dataclass(frozen=True)
class IssuedKey:
    """A key with its secret value, which its holder sees this once."""

    key: ApiKey
    secret: str

    def __repr__(self) -> str:
        return f"IssuedKey(key={self.key.id}, secret=***)"


class ApiKeyService:
    def __init__(
        self,
        uow: UnitOfWork[ApiKeysTransaction],
        keys: ApiKeyQueries,
        users: UserQueries,
        access: AccessTokens,
        *,
        exchange_lifetime: timedelta,
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        self._keys = keys
        self._users = users
        self._access = access
        self._exchange_lifetime = exchange_lifetime
        self._clock = clock

    async def create(
        self, caller: Caller, description: str | None, expires_at: datetime | None
    ) -> IssuedKey:
        secret = new_secret()
        key = ApiKey.create(
            caller.user_id,
            secret,
            self._clock(),
            description=description,
            expires_at=expires_at,
        )

        async def work(tx: ApiKeysTransaction) -> None:
            await tx.api_keys.add(key)

        await self._uow.run(work, tenant_id=caller.tenant_id, actor_id=caller.user_id)
        return IssuedKey(key, secret.value)

    async def delete(self, caller: Caller, key_id: str) -> None:
        async def work(tx: ApiKeysTransaction) -> None:
            key = await _own(tx, caller, key_id)
            key.delete()
            await tx.api_keys.remove(key)

        await self._uow.run(work, tenant_id=caller.tenant_id, actor_id=caller.user_id)

    async def regenerate(self, caller: Caller, key_id: str) -> IssuedKey:
        """A new secret for the key, in one step: the old one is refused from the commit on."""
        secret = new_secret()

        async def work(tx: ApiKeysTransaction) -> ApiKey:
            key = await _own(tx, caller, key_id)
            key.regenerate(secret, self._clock())
            await tx.api_keys.save(key)
            return key

        key = await self._uow.run(work, tenant_id=caller.tenant_id, actor_id=caller.user_id)
        return IssuedKey(key, secret.value)

    async def mine(self, caller: Caller, limit: int, offset: int) -> list[ApiKey]:
        return await self._keys.of_user(caller.user_id, limit, offset)

    async def exchange(self, api_key: str) -> AccessToken:
        """A short-lived access token for the key's user, acting for their default
        organization; an unknown, deleted, replaced or expired key is refused alike."""
        key = await self._keys.by_digest(digest(api_key))
        now = self._clock()
        if key is None or not key.usable(now):
            raise ApiKeyRefused("the API key is not valid: unknown, deleted, replaced or expired")
        user = await self._users.user(key.user_id)
        if user is None:
            raise ApiKeyRefused("the API key's user is not registered")
        return self._access.issue(user, now, self._exchange_lifetime)


async def _own(tx: ApiKeysTransaction, caller: Caller, key_id: str) -> ApiKey:
    """The caller's key; anyone else's does not exist as far as they may know."""
    key = await tx.api_keys.get(key_id)
    if key is None or key.user_id != caller.user_id:
        raise ApiKeyNotFound(f"you have no API key {key_id}")
    return key
