"""The transactional outbox, as a unit of work writes it: events stored with the state change.

The relay (chassis.messaging.relay) reads it and publishes; see there for the lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, IndexModel

from chassis.storage.documents import Writer
from contracts import Envelope

OUTBOX = "outbox"
PENDING = "pending"
SENT = "sent"
SENT_RETENTION = timedelta(days=7)

OUTBOX_INDEXES = [
    IndexModel([("status", ASCENDING), ("created_at", ASCENDING)]),
    # Sent events are kept a week for inspection, then MongoDB drops them.
    IndexModel([("sent_at", ASCENDING)], expireAfterSeconds=int(SENT_RETENTION.total_seconds())),
]


async def add_to_outbox(outbox: Writer, events: Sequence[tuple[Envelope, str | None]]) -> None:
    """Store each envelope, with the id of the request it was raised under (for the logs)."""
    if not events:
        return
    now = datetime.now(UTC)
    await outbox.insert_many(
        [
            {
                "_id": str(env.id),
                "status": PENDING,
                "created_at": now,
                "routing_key": env.routing_key,
                "body": env.model_dump_json(),
                "correlation_id": env.correlation_id,
                "request_id": request_id,
                "attempts": 0,
            }
            for env, request_id in events
        ]
    )
