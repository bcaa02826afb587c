"""A collection as a use case may touch it: read-only outside a transaction; inside one,
reads and writes that all carry the transaction's session, so none can escape it.

Inside a transaction a write whose result nobody needs can be deferred (`Writer.defer`): the
deferred writes of a collection go to MongoDB as one bulk write, in order, before anything
else touches that collection and before the commit. A consumer applying a batch of events
then pays one round trip for all of their writes instead of one each. An upsert deferred so
may be told, when it is sent, whether it inserted (store-unless-present, with what follows).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Self

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.operations import DeleteMany, DeleteOne, InsertOne, UpdateMany, UpdateOne
from pymongo.results import (
    BulkWriteResult,
    DeleteResult,
    InsertManyResult,
    InsertOneResult,
    UpdateResult,
)

Document = dict[str, Any]
Filter = Mapping[str, Any]
Write = InsertOne[Document] | UpdateOne | UpdateMany | DeleteOne | DeleteMany


class Found:
    """A find's cursor: sort, skip and limit it, then iterate it with `async for`.

    Nothing is read until the iteration starts, and then only after `before` (the writes
    deferred on the collection) is done.
    """

    def __init__(
        self, cursor: AsyncCursor[Document], before: Callable[[], Awaitable[object]] | None = None
    ) -> None:
        self._cursor = cursor
        self._before = before

    def sort(self, key: str | list[tuple[str, int]], direction: int = 1) -> Self:
        if isinstance(key, str):
            self._cursor.sort(key, direction)
        else:
            self._cursor.sort(key)
        return self

    def skip(self, n: int) -> Self:
        self._cursor.skip(n)
        return self

    def limit(self, n: int) -> Self:
        self._cursor.limit(n)
        return self

    async def __aiter__(self) -> AsyncIterator[Document]:
        if self._before is not None:
            await self._before()
        async for doc in self._cursor:
            yield doc


class Reader:
    def __init__(
        self, collection: AsyncCollection[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._collection = collection
        self._session = session

    async def find_one(self, filter: Filter) -> Document | None:
        return await self._collection.find_one(filter, session=self._session)

    def find(self, filter: Filter) -> Found:
        return Found(self._collection.find(filter, session=self._session))

    async def distinct(self, key: str, filter: Filter) -> list[Any]:
        return await self._collection.distinct(key, filter, session=self._session)


class Writer(Reader):
    def __init__(self, collection: AsyncCollection[Document], session: AsyncClientSession) -> None:
        super().__init__(collection, session)
        self._deferred: list[Write] = []
        self._told: dict[int, Callable[[bool], None]] = {}

    def defer(self, write: Write, *, upserted: Callable[[bool], None] | None = None) -> None:
        """Queue a write whose result is not needed; it is sent before this collection is
        next used and before the commit, and if it fails the transaction fails. `upserted`
        (for an upsert) is told, once it is sent, whether it inserted a document."""
        if upserted is not None:
            self._told[len(self._deferred)] = upserted
        self._deferred.append(write)

    async def flush(self) -> BulkWriteResult | None:
        """Send the deferred writes, in the order they were queued; what they did, together
        (None when none were deferred)."""
        if not self._deferred:
            return None
        writes, self._deferred = self._deferred, []
        told, self._told = self._told, {}
        result = await self._collection.bulk_write(writes, ordered=True, session=self._session)
        for index, tell in told.items():
            tell(index in (result.upserted_ids or {}))
        return result

    async def find_one(self, filter: Filter) -> Document | None:
        await self.flush()
        return await super().find_one(filter)

    def find(self, filter: Filter) -> Found:
        return Found(self._collection.find(filter, session=self._session), before=self.flush)

    async def distinct(self, key: str, filter: Filter) -> list[Any]:
        await self.flush()
        return await super().distinct(key, filter)

    async def insert_one(self, document: Document) -> InsertOneResult:
        await self.flush()
        return await self._collection.insert_one(document, session=self._session)

    async def insert_many(self, documents: Sequence[Document]) -> InsertManyResult:
        await self.flush()
        return await self._collection.insert_many(documents, session=self._session)

    async def update_one(
        self, filter: Filter, update: Mapping[str, Any], *, upsert: bool = False
    ) -> UpdateResult:
        await self.flush()
        return await self._collection.update_one(
            filter, update, upsert=upsert, session=self._session
        )

    async def update_many(self, filter: Filter, update: Mapping[str, Any]) -> UpdateResult:
        await self.flush()
        return await self._collection.update_many(filter, update, session=self._session)

    async def replace_one(self, filter: Filter, document: Document) -> UpdateResult:
        await self.flush()
        return await self._collection.replace_one(filter, document, session=self._session)

    async def find_one_and_update(
        self, filter: Filter, update: Mapping[str, Any]
    ) -> Document | None:
        """The document as it was before the update, or None when none matched."""
        await self.flush()
        return await self._collection.find_one_and_update(filter, update, session=self._session)

    async def delete_one(self, filter: Filter) -> DeleteResult:
        await self.flush()
        return await self._collection.delete_one(filter, session=self._session)

    async def delete_many(self, filter: Filter) -> DeleteResult:
        await self.flush()
        return await self._collection.delete_many(filter, session=self._session)
