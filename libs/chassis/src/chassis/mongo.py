"""MongoDB through PyMongo's async client: one database per service, indexes, transactions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

T = TypeVar("T")
Session = AsyncClientSession
Document = dict[str, Any]


class Mongo:
    def __init__(self, url: str, database: str) -> None:
        self.client: AsyncMongoClient[Document] = AsyncMongoClient(
            url, tz_aware=True, uuidRepresentation="standard", serverSelectionTimeoutMS=5000
        )
        self.db: AsyncDatabase[Document] = self.client[database]

    def collection(self, name: str) -> AsyncCollection[Document]:
        return self.db[name]

    async def ensure_indexes(self, indexes: Mapping[str, Sequence[IndexModel]]) -> None:
        for collection, models in indexes.items():
            if models:
                await self.db[collection].create_indexes(list(models))

    async def transaction(self, work: Callable[[Session], Awaitable[T]]) -> T:
        """Run `work` in one multi-document transaction.

        PyMongo retries the whole callback on transient errors (write conflicts, failovers),
        so `work` must only touch the database through the session it is given.
        """
        async with self.client.start_session() as session:
            return await session.with_transaction(work)

    async def ping(self) -> None:
        await self.client.admin.command("ping")

    async def close(self) -> None:
        await self.client.close()
