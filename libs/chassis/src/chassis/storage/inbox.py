"""Idempotent inbox: a consumer records each event id in the same transaction as its effect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import BulkWriteError, DuplicateKeyError

from chassis.storage.unit_of_work import MongoUnitOfWork, Transaction

INBOX = "inbox"
# Long past any redelivery or outbox lease, so a duplicate can never outlive its record.
INBOX_RETENTION = timedelta(days=30)
INBOX_INDEXES = [
    IndexModel(
        [("received_at", ASCENDING)], expireAfterSeconds=int(INBOX_RETENTION.total_seconds())
    )
]

# What handling one event does, inside the transaction that records it.
Effect = Callable[[Transaction[Any]], Awaitable[None]]
DUPLICATE_KEY = 11000


async def apply_once(
    uow: MongoUnitOfWork[Any], consumer: str, event_id: str, effect: Effect
) -> bool:
    """Apply `effect` unless `consumer` already applied `event_id`; True if applied now."""
    return (await apply_each_once(uow, consumer, [(event_id, effect)]))[0]


async def apply_each_once(
    uow: MongoUnitOfWork[Any], consumer: str, effects: Sequence[tuple[str, Effect]]
) -> list[bool]:
    """Apply each `(event_id, effect)` not applied before by `consumer`, all in one
    transaction; returns, per item, whether it was applied now.

    One transaction for many events is what makes a busy consumer fast: the commit, not the
    effect, is most of an event's cost.
    """

    keys = [f"{consumer}:{event_id}" for event_id, _ in effects]

    async def work(tx: Transaction[Any], already: set[str]) -> list[bool]:
        seen = set(already)
        fresh: list[bool] = []
        records = []
        now = datetime.now(UTC)
        for key, (event_id, _) in zip(keys, effects, strict=True):
            fresh.append(key not in seen)
            if key not in seen:
                seen.add(key)  # the same event twice in one batch counts once
                records.append(
                    {"_id": key, "consumer": consumer, "event_id": event_id, "received_at": now}
                )
        # Recorded before the effects: a duplicate fails here, before any work is done.
        if records:
            await tx.collection(INBOX).insert_many(records)
        for is_fresh, (_, effect) in zip(fresh, effects, strict=True):
            if is_fresh:
                await effect(tx)
        return fresh

    try:
        # Duplicates are rare (a redelivery after a crash), so first assume there are none.
        return await uow.atomically(lambda tx: work(tx, set()))
    except (DuplicateKeyError, BulkWriteError) as exc:
        if not _duplicate(exc):
            raise

    async def after_reading_the_inbox(tx: Transaction[Any]) -> list[bool]:
        cursor = tx.collection(INBOX).find({"_id": {"$in": keys}})
        return await work(tx, {doc["_id"] async for doc in cursor})

    return await uow.atomically(after_reading_the_inbox)


def _duplicate(exc: DuplicateKeyError | BulkWriteError) -> bool:
    if isinstance(exc, DuplicateKeyError):
        return True
    return all(error.get("code") == DUPLICATE_KEY for error in exc.details.get("writeErrors", []))
