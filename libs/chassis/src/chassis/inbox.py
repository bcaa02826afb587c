"""Idempotent inbox: a consumer records each event id in the same transaction as its effect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, IndexModel
from pymongo.errors import BulkWriteError, DuplicateKeyError

from chassis.uow import Tx, UnitOfWork

INBOX = "inbox"
# Long past any redelivery or outbox lease, so a duplicate can never outlive its record.
INBOX_RETENTION = timedelta(days=30)
INBOX_INDEXES = [
    IndexModel(
        [("received_at", ASCENDING)], expireAfterSeconds=int(INBOX_RETENTION.total_seconds())
    )
]

Effect = Callable[[Tx], Awaitable[None]]
DUPLICATE_KEY = 11000


async def apply_once(uow: UnitOfWork, consumer: str, event_id: str, effect: Effect) -> bool:
    """Apply `effect` unless this consumer already applied `event_id`; True if applied now."""
    return (await apply_each_once(uow, consumer, [(event_id, effect)]))[0]


async def apply_each_once(
    uow: UnitOfWork, consumer: str, effects: Sequence[tuple[str, Effect]]
) -> list[bool]:
    """Apply each `(event_id, effect)` not applied before, all in one transaction.

    Returns, per item, whether it was applied now. One transaction for many events is what
    makes a busy consumer fast: the commit, not the effect, is most of an event's cost.
    """

    keys = [f"{consumer}:{event_id}" for event_id, _ in effects]

    async def work(tx: Tx, already: set[str]) -> list[bool]:
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
            await uow.mongo.collection(INBOX).insert_many(records, session=tx.session)
        for is_fresh, (_, effect) in zip(fresh, effects, strict=True):
            if is_fresh:
                await effect(tx)
        return fresh

    try:
        # Duplicates are rare (a redelivery after a crash), so first assume there are none.
        return await uow.run(lambda tx: work(tx, set()))
    except (DuplicateKeyError, BulkWriteError) as exc:
        if not _duplicate(exc):
            raise

    async def after_reading_the_inbox(tx: Tx) -> list[bool]:
        cursor = uow.mongo.collection(INBOX).find(
            {"_id": {"$in": keys}}, {"_id": 1}, session=tx.session
        )
        return await work(tx, {doc["_id"] async for doc in cursor})

    return await uow.run(after_reading_the_inbox)


def _duplicate(exc: DuplicateKeyError | BulkWriteError) -> bool:
    if isinstance(exc, DuplicateKeyError):
        return True
    return all(error.get("code") == DUPLICATE_KEY for error in exc.details.get("writeErrors", []))
