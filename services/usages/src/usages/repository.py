"""Usages in MongoDB: recorded in a transaction, then claimed in batches under a lease and
marked delivered or failed. One mapping each way between documents and the domain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pymongo import ASCENDING, IndexModel

from chassis.storage.documents import Document
from chassis.storage.leases import LEASE_FIELDS, claim_batch, give_back
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import Scope
from usages.domain import Kind, Retries, Status, Usage, Who

USAGES = "usages"
# Delivered usages are the analytics service's now; kept a while for inspection.
DELIVERED_RETENTION = timedelta(days=30)
# Failed ones will never be delivered: kept as long, for someone to see why, then dropped.
FAILED_RETENTION = timedelta(days=30)

INDEXES = {
    USAGES: [
        IndexModel([("status", ASCENDING), ("recorded_at", ASCENDING)]),
        IndexModel(
            [("delivered_at", ASCENDING)],
            expireAfterSeconds=int(DELIVERED_RETENTION.total_seconds()),
        ),
        IndexModel(
            [("failed_at", ASCENDING)],
            expireAfterSeconds=int(FAILED_RETENTION.total_seconds()),
        ),
    ]
}


class UsageLog(Protocol):
    async def add(self, usage: Usage) -> None:
        """Record `usage` to be delivered (its id is new: a usage event's is applied once,
        by the inbox)."""
        ...


class MongoUsageLog:
    def __init__(self, scope: Scope) -> None:
        self._usages = scope.collection(USAGES)

    async def add(self, usage: Usage) -> None:
        await self._usages.insert_one(usage_document(usage, datetime.now(UTC)))


class MongoUsagesTransaction:
    def __init__(self, scope: Scope) -> None:
        self.usages = MongoUsageLog(scope)


@dataclass(frozen=True)
class Claimed:
    """A batch of usages held under a lease until it is marked or given back."""

    usages: list[Usage]
    documents: list[Document]

    def halves(self) -> tuple[Claimed, Claimed]:
        middle = len(self.usages) // 2
        return (
            Claimed(self.usages[:middle], self.documents[:middle]),
            Claimed(self.usages[middle:], self.documents[middle:]),
        )

    def without(self, ids: set[str]) -> Claimed:
        kept = [(u, d) for u, d in zip(self.usages, self.documents, strict=True) if u.id not in ids]
        return Claimed([u for u, _ in kept], [d for _, d in kept])


class PendingUsages:
    """The usages waiting for delivery, claimed by whichever process delivers them."""

    def __init__(self, mongo: Mongo, lease: timedelta, retries: Retries) -> None:
        self._usages = mongo.raw(USAGES)
        self._lease = lease
        self._retries = retries
        self._owner = uuid.uuid4().hex

    async def claim(self, limit: int, linger: timedelta) -> Claimed:
        """Up to `limit` pending usages, oldest first; none while there are fewer than
        `limit` and the oldest has waited less than `linger` for others to join it. A usage
        postponed is not claimed before its `retry_at`."""

        def worth_claiming(candidates: Sequence[Document]) -> bool:
            oldest = candidates[0]["recorded_at"]
            return len(candidates) >= limit or oldest <= datetime.now(UTC) - linger

        documents = await claim_batch(
            self._usages,
            # `$not $gt` also takes usages with no `retry_at` (never postponed).
            {"status": Status.PENDING.value, "retry_at": {"$not": {"$gt": datetime.now(UTC)}}},
            owner=self._owner,
            lease=self._lease,
            limit=limit,
            order="recorded_at",
            worth_claiming=worth_claiming,
        )
        return Claimed([usage_from(doc) for doc in documents], documents)

    async def delivered(self, claimed: Claimed) -> None:
        await self._mark(claimed, {"status": Status.DELIVERED.value})

    async def failed(self, claimed: Claimed, reason: str) -> None:
        await self._mark(claimed, {"status": Status.FAILED.value, "failure": reason})

    async def postpone(self, claimed: Claimed, error: str) -> int:
        """Not taken by the analytics service this time: pending again after the wait
        `Retries` gives each for the attempts it had, or failed with `error` when it had
        them all; answers how many were given up."""
        if not claimed.documents:
            return 0
        held = {"_id": {"$in": _ids(claimed)}, "lease_owner": {"$in": _owners(claimed)}}
        # The claimed documents were read before the claim counted its attempt: read it back.
        by_attempts: dict[int, list[str]] = {}
        async for doc in self._usages.find(held, {"attempts": 1}):
            by_attempts.setdefault(doc["attempts"], []).append(doc["_id"])
        now = datetime.now(UTC)
        given_up = 0
        for attempts, ids in by_attempts.items():
            if self._retries.exhausted(attempts):
                reason = f"not taken after {attempts} attempts; last: {error}"
                fields = {"status": Status.FAILED.value, "failure": reason, "failed_at": now}
                given_up += len(ids)
            else:
                fields = {"retry_at": now + self._retries.wait_after(attempts)}
            await self._usages.update_many(
                {**held, "_id": {"$in": ids}},
                {"$set": {**fields, "last_error": error}, "$unset": LEASE_FIELDS},
            )
        return given_up

    async def give_back(self, claimed: Claimed, error: str) -> None:
        """Not tried this time (the delivery was interrupted); pending again at once, with
        the error seen."""
        await self._usages.update_many(
            {"_id": {"$in": _ids(claimed)}}, {"$set": {"last_error": error}}
        )
        await give_back(self._usages, claimed.documents)

    async def _mark(self, claimed: Claimed, fields: Document) -> None:
        field = "delivered_at" if fields["status"] == Status.DELIVERED else "failed_at"
        await self._usages.update_many(
            {"_id": {"$in": _ids(claimed)}},
            {"$set": {**fields, field: datetime.now(UTC)}, "$unset": LEASE_FIELDS},
        )


def _ids(claimed: Claimed) -> list[str]:
    return [doc["_id"] for doc in claimed.documents]


def _owners(claimed: Claimed) -> list[str]:
    return list({doc["lease_owner"] for doc in claimed.documents})


# --- documents <-> domain ---------------------------------------------------------------------


def usage_document(usage: Usage, recorded_at: datetime) -> Document:
    who = usage.who
    return {
        "_id": usage.id,
        "kind": usage.kind.value,
        "event": usage.event,
        "distinct_id": who.distinct_id,
        "identified": who.identified,
        "tenant_id": who.tenant_id,
        "anonymous_id": who.anonymous_id,
        "occurred_at": usage.occurred_at,
        "properties": dict(usage.properties),
        "status": Status.PENDING.value,
        "recorded_at": recorded_at,
        "attempts": 0,
    }


def usage_from(doc: Document) -> Usage:
    who = Who(doc["distinct_id"], doc["identified"], doc["tenant_id"], doc["anonymous_id"])
    return Usage(
        doc["_id"], Kind(doc["kind"]), doc["event"], who, doc["occurred_at"], doc["properties"]
    )
