"""Idempotent inbox: a consumer records each event id in the same transaction as its effect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from chassis.uow import Tx, UnitOfWork

INBOX = "inbox"
# Long past any redelivery or outbox lease, so a duplicate can never outlive its record.
INBOX_RETENTION = timedelta(days=30)
INBOX_INDEXES = [
    IndexModel(
        [("received_at", ASCENDING)], expireAfterSeconds=int(INBOX_RETENTION.total_seconds())
    )
]


class AlreadyApplied(Exception):
    pass


async def apply_once(
    uow: UnitOfWork, consumer: str, event_id: str, effect: Callable[[Tx], Awaitable[None]]
) -> bool:
    """Apply `effect` unless this consumer already applied `event_id`; True if applied now."""

    async def work(tx: Tx) -> None:
        try:
            await uow.mongo.collection(INBOX).insert_one(
                {
                    "_id": f"{consumer}:{event_id}",
                    "consumer": consumer,
                    "event_id": event_id,
                    "received_at": datetime.now(UTC),
                },
                session=tx.session,
            )
        except DuplicateKeyError as exc:
            raise AlreadyApplied from exc
        await effect(tx)

    try:
        await uow.run(work)
    except AlreadyApplied:
        return False
    return True
