"""Bookings, and the cars they may refer to as seen through car events, in MongoDB."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel

from bookings.domain import Booking, Status
from chassis.mongo import Mongo, Session

BOOKINGS = "bookings"
CARS = "cars"

INDEXES = {
    BOOKINGS: [
        IndexModel([("tenant_id", ASCENDING), ("start", ASCENDING), ("end", ASCENDING)]),
        IndexModel([("car_id", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("created_at", ASCENDING)]),
    ],
    CARS: [IndexModel([("tenant_id", ASCENDING)])],
}


class BookingRepository:
    def __init__(self, mongo: Mongo) -> None:
        self._bookings = mongo.collection(BOOKINGS)
        self._cars = mongo.collection(CARS)

    async def add_pending(self, booking: Booking) -> None:
        await self._bookings.insert_one(_doc(booking))

    async def confirm(self, booking: Booking, session: Session) -> bool:
        """False when the pending booking is gone (given up on as abandoned)."""
        result = await self._bookings.update_one(
            {"_id": booking.id, "status": Status.PENDING.value},
            {"$set": {"status": Status.CONFIRMED.value}},
            session=session,
        )
        return result.modified_count == 1

    async def discard_pending(self, booking_id: str) -> None:
        await self._bookings.delete_one({"_id": booking_id, "status": Status.PENDING.value})

    async def pending_since_before(self, moment: datetime, limit: int = 100) -> list[Booking]:
        cursor = self._bookings.find(
            {"status": Status.PENDING.value, "created_at": {"$lt": moment}}
        ).limit(limit)
        return [_booking(d) async for d in cursor]

    async def get(
        self, tenant_id: str, booking_id: str, session: Session | None = None
    ) -> Booking | None:
        doc = await self._bookings.find_one(
            {"_id": booking_id, "tenant_id": tenant_id}, session=session
        )
        return _booking(doc) if doc else None

    async def save_cancellation(self, booking: Booking, session: Session) -> None:
        await self._bookings.update_one(
            {"_id": booking.id, "status": Status.CONFIRMED.value},
            {"$set": {"status": booking.status.value, "cancelled_at": booking.cancelled_at}},
            session=session,
        )

    async def overlapping(
        self, tenant_id: str, start: datetime, end: datetime, limit: int, offset: int
    ) -> list[Booking]:
        cursor = self._bookings.find(
            {
                "tenant_id": tenant_id,
                "start": {"$lt": end},
                "end": {"$gt": start},
                "status": {"$ne": Status.PENDING.value},
            }
        ).sort([("start", 1), ("_id", 1)])
        return [_booking(d) async for d in cursor.skip(offset).limit(limit)]

    async def cars(self, tenant_id: str, car_ids: set[str]) -> dict[str, dict[str, Any]]:
        cursor = self._cars.find(
            {
                "_id": {"$in": sorted(car_ids)},
                "tenant_id": tenant_id,
                "deleted_at": {"$exists": False},
            }
        )
        return {d["_id"]: d async for d in cursor}

    async def car_registered(self, tenant_id: str, car: dict[str, Any], session: Session) -> None:
        # `events_applied` is a plain increment: only the inbox keeps a redelivered event from
        # counting twice, which is what the crash tests check.
        await self._cars.update_one(
            {"_id": car["car_id"]},
            {"$set": {"tenant_id": tenant_id, **car}, "$inc": {"events_applied": 1}},
            upsert=True,
            session=session,
        )

    async def car_deleted(
        self, tenant_id: str, car_id: str, deleted_at: datetime, session: Session
    ) -> None:
        # A tombstone, not a delete: the two events travel on different queues, so the
        # deletion may arrive before the registration it ends.
        await self._cars.update_one(
            {"_id": car_id},
            {"$set": {"tenant_id": tenant_id, "deleted_at": deleted_at}},
            upsert=True,
            session=session,
        )


def _doc(b: Booking) -> dict[str, Any]:
    return {
        "_id": b.id,
        "tenant_id": b.tenant_id,
        "user_id": b.user_id,
        "car_id": b.car_id,
        "start": b.start,
        "end": b.end,
        "status": b.status.value,
        "created_at": b.created_at,
        "cancelled_at": b.cancelled_at,
    }


def _booking(d: dict[str, Any]) -> Booking:
    return Booking(
        d["_id"],
        d["tenant_id"],
        d["user_id"],
        d["car_id"],
        d["start"],
        d["end"],
        Status(d["status"]),
        d["created_at"],
        d.get("cancelled_at"),
    )
