"""The transactional outbox, as a unit of work writes it: events stored with the state change.

The relay (chassis.messaging.relay) publishes them; see there for the lease. A unit of work
with a relay hands it each commit's events from memory (`Handoff`), stored already leased
to it, so they go out without being read back; the relay's sweep takes what is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

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


@dataclass(frozen=True)
class Lease:
    """A claim on outbox rows: nobody else publishes them before `until`."""

    owner: str
    until: datetime


class Handoff(Protocol):
    """Takes the events of each commit from memory and publishes them (the relay)."""

    def lease(self) -> Lease | None:
        """The claim to store the next commit's events under; None: leave them pending."""
        ...

    def committed(self, rows: Sequence[dict[str, Any]]) -> None:
        """`rows`, stored under `lease()`, are committed: publish them."""
        ...


async def add_to_outbox(
    outbox: Writer, events: Sequence[tuple[Envelope, str | None]], lease: Lease | None = None
) -> list[dict[str, Any]]:
    """Store each envelope, with the id of the request it was raised under (for the logs),
    already claimed under `lease` if given; answers the rows stored."""
    if not events:
        return []
    now = datetime.now(UTC)
    claim: dict[str, Any] = (
        {"lease_owner": lease.owner, "lease_until": lease.until, "attempts": 1}
        if lease
        else {"attempts": 0}
    )
    rows = [
        {
            "_id": str(env.id),
            "status": PENDING,
            "created_at": now,
            "routing_key": env.routing_key,
            "body": env.model_dump_json(),
            "correlation_id": env.correlation_id,
            "request_id": request_id,
            **claim,
        }
        for env, request_id in events
    ]
    await outbox.insert_many(rows)
    return rows
