"""A collection as a use case may touch it: read-only outside a transaction; inside one,
reads and writes that all carry the transaction's session, so none can escape it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.results import DeleteResult, InsertManyResult, InsertOneResult, UpdateResult

Document = dict[str, Any]
Filter = Mapping[str, Any]


class Reader:
    def __init__(
        self, collection: AsyncCollection[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._collection = collection
        self._session = session

    async def find_one(self, filter: Filter) -> Document | None:
        return await self._collection.find_one(filter, session=self._session)

    def find(self, filter: Filter) -> AsyncCursor[Document]:
        """A cursor to sort, skip and limit; iterate it with `async for`."""
        return self._collection.find(filter, session=self._session)

    async def distinct(self, key: str, filter: Filter) -> list[Any]:
        return await self._collection.distinct(key, filter, session=self._session)


class Writer(Reader):
    def __init__(self, collection: AsyncCollection[Document], session: AsyncClientSession) -> None:
        super().__init__(collection, session)

    async def insert_one(self, document: Document) -> InsertOneResult:
        return await self._collection.insert_one(document, session=self._session)

    async def insert_many(self, documents: Sequence[Document]) -> InsertManyResult:
        return await self._collection.insert_many(documents, session=self._session)

    async def update_one(
        self, filter: Filter, update: Mapping[str, Any], *, upsert: bool = False
    ) -> UpdateResult:
        return await self._collection.update_one(
            filter, update, upsert=upsert, session=self._session
        )

    async def find_one_and_update(
        self, filter: Filter, update: Mapping[str, Any]
    ) -> Document | None:
        """The document as it was before the update, or None when none matched."""
        return await self._collection.find_one_and_update(filter, update, session=self._session)

    async def delete_one(self, filter: Filter) -> DeleteResult:
        return await self._collection.delete_one(filter, session=self._session)

    async def delete_many(self, filter: Filter) -> DeleteResult:
        return await self._collection.delete_many(filter, session=self._session)
