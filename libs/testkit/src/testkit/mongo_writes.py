"""Count the writes MongoDB itself records for a collection's documents.

A test asking "was this applied exactly once?" must not count with state that the code under
test writes: a bug that applies twice could count wrong too. MongoDB records every write that
changes a document in its oplog, and a change stream reads it back: one event per insert,
update, replace or delete, even for writes inside a transaction; a rolled-back transaction
and an update that changes nothing leave no event. This needs a replica set (ours is one).

    counter = await WriteCounter.start(collection)  # before the test acts
    ...
    assert await counter.writes(ids) == {i: INSERTED_ONCE for i in ids}
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from bson import Timestamp
from pymongo.asynchronous.collection import AsyncCollection

K = TypeVar("K", bound=Hashable)
OPERATIONS = ("insert", "update", "replace", "delete")
# A resume token's hex `_data` starts with its cluster time: this type byte, then the
# timestamp's seconds and increment, 4 bytes each, big-endian (MongoDB's resume_token.cpp).
_TIMESTAMP_TYPE = "82"


@dataclass(frozen=True)
class Writes:
    """How many writes of each kind MongoDB recorded for one document."""

    insert: int = 0
    update: int = 0
    replace: int = 0
    delete: int = 0

    @property
    def total(self) -> int:
        return self.insert + self.update + self.replace + self.delete


INSERTED_ONCE = Writes(insert=1)


class WriteCounter:
    """The writes to one collection's documents from the moment `start` was called."""

    def __init__(self, collection: AsyncCollection[Any], after: Timestamp) -> None:
        self.collection = collection
        self.after = after

    @classmethod
    async def start(cls, collection: AsyncCollection[Any]) -> WriteCounter:
        """Count from now on: every write that MongoDB has applied so far is left out."""
        return cls(collection, await _cluster_time(collection))

    async def writes(self, ids: Iterable[K], timeout: float = 30.0) -> dict[K, Writes]:
        """The writes recorded for each of `ids` (by `_id`) since `start`, up to now.

        Reads the change stream until it has passed the cluster time of this call, so every
        write acknowledged before the call is counted; later ones are not.
        """
        counts: dict[K, Counter[str]] = {doc_id: Counter() for doc_id in ids}
        until = await _cluster_time(self.collection)
        # Start right after the time `start` saw: a write applied at that very time came first.
        since = Timestamp(self.after.time, self.after.inc + 1)
        match = {"operationType": {"$in": OPERATIONS}, "documentKey._id": {"$in": list(counts)}}
        deadline = time.monotonic() + timeout
        async with await self.collection.watch(
            [{"$match": match}], start_at_operation_time=since, max_await_time_ms=100
        ) as stream:
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the change stream did not reach {until} in {timeout}s")
                change = await stream.try_next()
                if change is None:
                    # An empty batch: the stream has read the oplog up to its resume token.
                    if _token_time(stream.resume_token) >= until:
                        break
                elif change["clusterTime"] > until:
                    break
                else:
                    counts[change["documentKey"]["_id"]][change["operationType"]] += 1
        return {doc_id: Writes(**c) for doc_id, c in counts.items()}


async def _cluster_time(collection: AsyncCollection[Any]) -> Timestamp:
    """The time of the latest write the server has applied (a replica set reports it)."""
    reply = await collection.database.command("ping")
    when = reply["operationTime"]
    assert isinstance(when, Timestamp), reply
    return when


def _token_time(token: Any) -> Timestamp:
    data = str(token["_data"])
    if not data.startswith(_TIMESTAMP_TYPE):
        raise ValueError(f"a resume token that does not start with its time: {token}")
    return Timestamp(int(data[2:10], 16), int(data[10:18], 16))
