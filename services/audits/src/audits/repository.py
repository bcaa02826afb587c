"""The audit trail in MongoDB: appended to inside a transaction, read outside one.

Append-only by construction: the trail a transaction holds can only insert (deferred, so a
batch of events is one bulk write), and the queries only read. An entry's id is its event's
id, so even a second insert of one event (were the inbox ever bypassed) is refused by MongoDB
as a duplicate key instead of being stored twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pymongo import DESCENDING, IndexModel, InsertOne

from audits.domain import AuditEntry, Outcome
from chassis.storage.documents import Document
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import Scope

ENTRIES = "entries"

INDEXES = {
    ENTRIES: [
        # An owner's reads: their tenant, newest first.
        IndexModel([("tenant_id", DESCENDING), ("occurred_at", DESCENDING), ("_id", DESCENDING)]),
        # An operator's reads across every tenant.
        IndexModel([("occurred_at", DESCENDING), ("_id", DESCENDING)]),
    ]
}


class AuditTrail(Protocol):
    """Where entries are appended; nothing else is offered, so nothing else can be done."""

    async def append(self, entry: AuditEntry) -> None: ...


class MongoAuditTrail:
    def __init__(self, scope: Scope) -> None:
        self._entries = scope.collection(ENTRIES)

    async def append(self, entry: AuditEntry) -> None:
        self._entries.defer(InsertOne(entry_document(entry)))


class MongoAuditsTransaction:
    def __init__(self, scope: Scope) -> None:
        self.trail = MongoAuditTrail(scope)


class AuditQueries:
    """Reads of the trail (read-only: a `Reader` has no writes)."""

    def __init__(self, mongo: Mongo) -> None:
        self._entries = mongo.reader(ENTRIES)

    async def entries(
        self, tenant_id: str | None, since: datetime | None, limit: int, offset: int
    ) -> list[AuditEntry]:
        """The tenant's entries (every tenant's when None) that occurred at or after
        `since`, newest first."""
        query: dict[str, Any] = {}
        if tenant_id is not None:
            query["tenant_id"] = tenant_id
        if since is not None:
            query["occurred_at"] = {"$gte": since}
        cursor = self._entries.find(query).sort([("occurred_at", -1), ("_id", -1)])
        return [entry_from(d) async for d in cursor.skip(offset).limit(limit)]


# --- documents <-> domain ---------------------------------------------------------------------


def entry_document(entry: AuditEntry) -> Document:
    return {
        "_id": entry.id,
        "tenant_id": entry.tenant_id,
        "actor_id": entry.actor_id,
        "action": entry.action,
        "target": entry.target,
        "outcome": entry.outcome.value,
        "detail": entry.detail,
        "occurred_at": entry.occurred_at,
        "correlation_id": entry.correlation_id,
    }


def entry_from(doc: Document) -> AuditEntry:
    return AuditEntry(
        doc["_id"],
        doc["tenant_id"],
        doc["actor_id"],
        doc["action"],
        doc["target"],
        Outcome(doc["outcome"]),
        doc["detail"],
        doc["occurred_at"],
        doc["correlation_id"],
    )
