"""API keys in MongoDB, found by their digest (an exchange) or by their owner (a listing)."""

from __future__ import annotations

from typing import Protocol

from pymongo import ASCENDING, IndexModel

from chassis.storage.documents import Document
from chassis.storage.mongo import Indexes, Mongo
from chassis.storage.unit_of_work import Scope
from identity.apikeys.domain import ApiKey

API_KEYS = "api_keys"

INDEXES: Indexes = {
    API_KEYS: [
        IndexModel([("digest", ASCENDING)], unique=True),
        IndexModel([("user_id", ASCENDING), ("created_at", ASCENDING)]),
    ]
}


class ApiKeyRepository(Protocol):
    async def get(self, key_id: str) -> ApiKey | None: ...

    async def add(self, key: ApiKey) -> None: ...

    async def save(self, key: ApiKey) -> None: ...

    async def remove(self, key: ApiKey) -> None: ...


class MongoApiKeys:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._keys = scope.collection(API_KEYS)

    async def get(self, key_id: str) -> ApiKey | None:
        doc = await self._keys.find_one({"_id": key_id})
        if doc is None:
            return None
        key = api_key_from(doc)
        self._scope.track(key)
        return key

    async def add(self, key: ApiKey) -> None:
        await self._keys.insert_one(api_key_document(key))
        self._scope.track(key)

    async def save(self, key: ApiKey) -> None:
        await self._keys.replace_one({"_id": key.id}, api_key_document(key))

    async def remove(self, key: ApiKey) -> None:
        await self._keys.delete_one({"_id": key.id})
        self._scope.track(key)


class ApiKeyQueries:
    def __init__(self, mongo: Mongo) -> None:
        self._keys = mongo.reader(API_KEYS)

    async def by_digest(self, digest: str) -> ApiKey | None:
        doc = await self._keys.find_one({"digest": digest})
        return api_key_from(doc) if doc else None

    async def of_user(self, user_id: str, limit: int, offset: int) -> list[ApiKey]:
        found = (
            self._keys.find({"user_id": user_id})
            .sort([("created_at", ASCENDING), ("_id", ASCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [api_key_from(doc) async for doc in found]


# --- documents <-> domain ---------------------------------------------------------------------


def api_key_document(key: ApiKey) -> Document:
    return {
        "_id": key.id,
        "user_id": key.user_id,
        "digest": key.digest,
        "hint": key.hint,
        "description": key.description,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "regenerated_at": key.regenerated_at,
    }


def api_key_from(doc: Document) -> ApiKey:
    return ApiKey(
        doc["_id"],
        doc["user_id"],
        doc["digest"],
        doc["hint"],
        doc["description"],
        doc["created_at"],
        doc["expires_at"],
        doc["regenerated_at"],
    )
