"""Claiming work kept in a collection: batches of documents taken under a lease.

Whoever claims a batch holds it until the lease runs out; nobody else claims it before. If
the holder dies, the lease runs out and the documents are claimed again, so work done this
way is done at least once: the worker makes a repeat harmless (the outbox's consumers have
an inbox; an HTTP API dedupes by an id sent with each item). A claimed document carries
`lease_owner` (the claim's own token), `lease_until` and `attempts`, counted per claim.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from chassis.storage.documents import Document

LEASE_FIELDS = {"lease_owner": "", "lease_until": ""}


def claimable(query: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """`query`, narrowed to documents nobody holds a live lease on."""
    return {
        **query,
        "$or": [{"lease_until": {"$exists": False}}, {"lease_until": {"$lt": now}}],
    }


async def claim_batch(
    collection: AsyncCollection[Document],
    query: Mapping[str, Any],
    *,
    owner: str,
    lease: timedelta,
    limit: int,
    order: str,
    worth_claiming: Callable[[Sequence[Document]], bool] | None = None,
) -> list[Document]:
    """Claim up to `limit` documents matching `query` that nobody holds, first by `order`;
    answer those claimed (their `lease_owner` set to this claim's token).

    `worth_claiming` sees the candidates first and may decline them all (a batch not yet
    full enough to send): then nothing is written.
    """
    now = datetime.now(UTC)
    free = claimable(query, now)
    candidates = [doc async for doc in collection.find(free).sort(order, ASCENDING).limit(limit)]
    if not candidates or (worth_claiming is not None and not worth_claiming(candidates)):
        return []
    ids = [doc["_id"] for doc in candidates]
    token = f"{owner}:{uuid.uuid4().hex}"
    claim = await collection.update_many(
        {"_id": {"$in": ids}, **free},
        {"$set": {"lease_owner": token, "lease_until": now + lease}, "$inc": {"attempts": 1}},
    )
    if claim.modified_count == len(ids):
        for doc in candidates:
            doc["lease_owner"] = token
        return candidates
    # Another claimer took some of them in between: answer only what this claim holds.
    claimed = collection.find({"_id": {"$in": ids}, "lease_owner": token}).sort(order, ASCENDING)
    return [doc async for doc in claimed]


async def give_back(collection: AsyncCollection[Document], claimed: Sequence[Document]) -> None:
    """End the lease on `claimed` at once, for the next claim to take them without waiting it
    out; only where the lease is still the one taken (it may have run out and been retaken)."""
    if not claimed:
        return
    await collection.update_many(
        {
            "_id": {"$in": [doc["_id"] for doc in claimed]},
            "lease_owner": {"$in": list({doc["lease_owner"] for doc in claimed})},
        },
        {"$unset": LEASE_FIELDS},
    )
