"""Refresh tokens (as digests) and signing keys (their private halves encrypted with the
service's passphrase) in MongoDB."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pymongo import ASCENDING, IndexModel

from chassis.storage.documents import Document
from chassis.storage.mongo import Indexes, Mongo
from chassis.storage.unit_of_work import Scope
from identity.tokens.domain import RefreshToken
from identity.tokens.signing import SigningKey

REFRESH_TOKENS = "refresh_tokens"
SIGNING_KEYS = "signing_keys"

INDEXES: Indexes = {
    REFRESH_TOKENS: [
        IndexModel([("family_id", ASCENDING)]),
        IndexModel([("user_id", ASCENDING)]),
        # MongoDB drops a token once it has expired; a stolen one is worthless by then.
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0),
    ],
}


class RefreshTokenRepository(Protocol):
    async def get(self, digest: str) -> RefreshToken | None: ...

    async def add(self, token: RefreshToken) -> None: ...

    async def save(self, token: RefreshToken) -> None: ...

    async def revoke_family(self, family_id: str, now: datetime) -> None: ...

    async def revoke_user(self, user_id: str, now: datetime) -> None:
        """Every family of the user (a password reset: whoever held a session loses it)."""
        ...


class SigningKeyRepository(Protocol):
    async def add(self, key: SigningKey) -> None: ...

    async def retire(self, kid: str, at: datetime) -> bool:
        """Retire the key from `at` if it is not retired; False when another instance
        rotated it first."""
        ...


class MongoRefreshTokens:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._tokens = scope.collection(REFRESH_TOKENS)

    async def get(self, digest: str) -> RefreshToken | None:
        doc = await self._tokens.find_one({"_id": digest})
        if doc is None:
            return None
        token = refresh_token_from(doc)
        self._scope.track(token)
        return token

    async def add(self, token: RefreshToken) -> None:
        await self._tokens.insert_one(refresh_token_document(token))

    async def save(self, token: RefreshToken) -> None:
        await self._tokens.replace_one({"_id": token.digest}, refresh_token_document(token))

    async def revoke_family(self, family_id: str, now: datetime) -> None:
        await self._tokens.update_many(
            {"family_id": family_id, "revoked_at": None}, {"$set": {"revoked_at": now}}
        )

    async def revoke_user(self, user_id: str, now: datetime) -> None:
        await self._tokens.update_many(
            {"user_id": user_id, "revoked_at": None}, {"$set": {"revoked_at": now}}
        )


class MongoSigningKeys:
    def __init__(self, scope: Scope, passphrase: bytes) -> None:
        self._scope = scope
        self._keys = scope.collection(SIGNING_KEYS)
        self._passphrase = passphrase

    async def add(self, key: SigningKey) -> None:
        await self._keys.insert_one(
            {
                "_id": key.kid,
                "private_pem": key.private_pem(self._passphrase).decode(),
                "created_at": key.created_at,
                "active_from": key.active_from,
                "retired_at": key.retired_at,
            }
        )
        self._scope.track(key)

    async def retire(self, kid: str, at: datetime) -> bool:
        result = await self._keys.update_one(
            {"_id": kid, "retired_at": None}, {"$set": {"retired_at": at}}
        )
        return result.modified_count == 1


class SigningKeyQueries:
    def __init__(self, mongo: Mongo, passphrase: bytes) -> None:
        self._keys = mongo.reader(SIGNING_KEYS)
        self._passphrase = passphrase

    async def all(self) -> list[SigningKey]:
        return [
            SigningKey(
                doc["_id"],
                SigningKey.load_private(doc["private_pem"].encode(), self._passphrase),
                doc["created_at"],
                doc["active_from"],
                doc["retired_at"],
            )
            async for doc in self._keys.find({})
        ]


class RefreshTokenQueries:
    def __init__(self, mongo: Mongo) -> None:
        self._tokens = mongo.reader(REFRESH_TOKENS)

    async def get(self, digest: str) -> RefreshToken | None:
        doc = await self._tokens.find_one({"_id": digest})
        return refresh_token_from(doc) if doc else None


# --- documents <-> domain ---------------------------------------------------------------------


def refresh_token_document(token: RefreshToken) -> Document:
    return {
        "_id": token.digest,
        "family_id": token.family_id,
        "user_id": token.user_id,
        "issued_at": token.issued_at,
        "expires_at": token.expires_at,
        "used_at": token.used_at,
        "revoked_at": token.revoked_at,
    }


def refresh_token_from(doc: Document) -> RefreshToken:
    return RefreshToken(
        doc["_id"],
        doc["family_id"],
        doc["user_id"],
        doc["issued_at"],
        doc["expires_at"],
        doc["used_at"],
        doc["revoked_at"],
    )
