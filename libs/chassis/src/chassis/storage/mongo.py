"""MongoDB through PyMongo's async client: the storage part of a service.

One database per service, its indexes declared at start, transactions, a health check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Self, TypeVar

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from chassis.config import StorageSettings
from chassis.parts import Check
from chassis.storage.documents import Document, Reader

T = TypeVar("T")
Session = AsyncClientSession
Indexes = Mapping[str, Sequence[IndexModel]]


class Mongo:
    def __init__(self, url: str, database: str, indexes: Indexes | None = None) -> None:
        self.client: AsyncMongoClient[Document] = AsyncMongoClient(
            url, tz_aware=True, uuidRepresentation="standard", serverSelectionTimeoutMS=5000
        )
        self.db: AsyncDatabase[Document] = self.client[database]
        self._indexes: dict[str, list[IndexModel]] = {}
        self.declare(indexes or {})
        # The driver builds a new collection object on every lookup; handlers look up per event.
        self._collections: dict[str, AsyncCollection[Document]] = {}

    @classmethod
    def of(cls, settings: StorageSettings, indexes: Indexes | None = None) -> Self:
        return cls(settings.mongo_url, settings.database_name, indexes)

    def declare(self, indexes: Indexes) -> None:
        """Indexes to make sure of at start (the chassis adds its outbox's and inbox's)."""
        for collection, models in indexes.items():
            self._indexes.setdefault(collection, []).extend(models)

    def reader(self, name: str) -> Reader:
        """A collection to read outside any transaction (query objects)."""
        return Reader(self.raw(name))

    def raw(self, name: str) -> AsyncCollection[Document]:
        """The driver's collection, for the chassis' own machinery (outbox, inbox, relay)."""
        collection = self._collections.get(name)
        if collection is None:
            collection = self._collections[name] = self.db[name]
        return collection

    async def transaction(self, work: Callable[[Session], Awaitable[T]]) -> T:
        """Run `work` in one multi-document transaction.

        PyMongo retries the whole callback on transient errors (write conflicts, failovers),
        so `work` must only touch the database through the session it is given.
        """
        async with self.client.start_session() as session:
            return await session.with_transaction(work)

    async def ping(self) -> None:
        await self.client.admin.command("ping")

    async def start(self) -> None:
        for collection, models in self._indexes.items():
            if models:
                await self.db[collection].create_indexes(models)

    async def stop(self) -> None:
        await self.client.close()

    def checks(self) -> Mapping[str, Check]:
        return {"mongo": self.ping}
