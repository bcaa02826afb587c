"""Bookings, and the cars they may refer to as learnt from car events, in MongoDB: the
repositories a transaction holds, and the queries that read outside one."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pymongo import ASCENDING, IndexModel, UpdateOne

from bookings.domain import Booking, KnownCar, Status
from chassis.errors import Conflict
from chassis.storage.documents import Document
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import Scope
from chassis.timeframe import TimeFrame

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


class BookingChanged(Conflict):
    """The booking was changed or removed since it was read."""


class BookingRepository(Protocol):
    """The tenant's bookings, as the unit of work's tenant sees them."""

    async def add(self, booking: Booking) -> None: ...

    async def get(self, booking_id: str) -> Booking | None: ...

    async def save(self, booking: Booking) -> None:
        """Store the booking's changes, if it is still the version it was read at (or
        added as); BookingChanged if not. The object keeps its version: read it again to
        change it again."""
        ...

    async def remove(self, booking: Booking) -> None: ...


class KnownCars(Protocol):
    """What bookings knows of the tenant's cars (a projection of the cars service's events)."""

    async def registered(self, car: KnownCar, at: datetime) -> None: ...

    async def deleted(self, car_id: str, at: datetime) -> None: ...


class MongoBookings:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._bookings = scope.collection(BOOKINGS)

    async def add(self, booking: Booking) -> None:
        await self._bookings.insert_one(booking_document(booking))
        self._scope.track(booking)

    async def get(self, booking_id: str) -> Booking | None:
        doc = await self._bookings.find_one({"_id": booking_id, "tenant_id": self._scope.tenant})
        if doc is None:
            return None
        booking = booking_from(doc)
        self._scope.track(booking)
        return booking

    async def save(self, booking: Booking) -> None:
        changed = {"status": booking.status.value, "cancelled_at": booking.cancelled_at}
        saved = await self._bookings.update_one(
            {"_id": booking.id, "version": booking.version},
            {"$set": changed, "$inc": {"version": 1}},
        )
        if saved.matched_count == 0:
            raise BookingChanged(f"booking {booking.id} changed meanwhile")
        self._scope.track(booking)

    async def remove(self, booking: Booking) -> None:
        await self._bookings.delete_one({"_id": booking.id})


class MongoKnownCars:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._cars = scope.collection(CARS)

    async def registered(self, car: KnownCar, at: datetime) -> None:
        # `projected_at` changes on every application, so applying an event twice would
        # show in MongoDB's own record of writes (what the crash tests count).
        fields = known_car_document(car)
        del fields["_id"]
        fields.update(tenant_id=self._scope.tenant, projected_at=at)
        # Deferred: a batch of events sends all of its projection's writes at once.
        self._cars.defer(UpdateOne({"_id": car.id}, {"$set": fields}, upsert=True))

    async def deleted(self, car_id: str, at: datetime) -> None:
        # A tombstone, not a delete: the two events travel on different queues, so the
        # deletion may arrive before the registration it ends.
        self._cars.defer(
            UpdateOne(
                {"_id": car_id},
                {"$set": {"tenant_id": self._scope.tenant, "deleted_at": at}},
                upsert=True,
            )
        )


class MongoBookingsTransaction:
    def __init__(self, scope: Scope) -> None:
        self.bookings = MongoBookings(scope)
        self.known_cars = MongoKnownCars(scope)


class BookingQueries:
    """Reads that need no transaction."""

    def __init__(self, mongo: Mongo) -> None:
        self._bookings = mongo.reader(BOOKINGS)
        self._cars = mongo.reader(CARS)

    async def overlapping(
        self, tenant_id: str, frame: TimeFrame, limit: int, offset: int
    ) -> list[Booking]:
        """The tenant's bookings (pending ones left out) that overlap the frame."""
        cursor = self._bookings.find(
            {
                "tenant_id": tenant_id,
                "start": {"$lt": frame.end},
                "end": {"$gt": frame.start},
                "status": {"$ne": Status.PENDING.value},
            }
        ).sort([("start", 1), ("_id", 1)])
        return [booking_from(d) async for d in cursor.skip(offset).limit(limit)]

    async def known_cars(self, tenant_id: str, car_ids: set[str]) -> dict[str, KnownCar]:
        """The cars of `car_ids` bookings knows of (registered, not deleted), by id."""
        cursor = self._cars.find(
            {
                "_id": {"$in": sorted(car_ids)},
                "tenant_id": tenant_id,
                "deleted_at": {"$exists": False},
            }
        )
        return {d["_id"]: known_car_from(d) async for d in cursor}

    async def pending_since_before(self, moment: datetime, limit: int = 100) -> list[Booking]:
        """Bookings of any tenant still pending that were requested before `moment`."""
        cursor = self._bookings.find(
            {"status": Status.PENDING.value, "created_at": {"$lt": moment}}
        ).limit(limit)
        return [booking_from(d) async for d in cursor]


# --- documents <-> domain ---------------------------------------------------------------------


def booking_document(b: Booking) -> Document:
    return {
        "_id": b.id,
        "tenant_id": b.tenant_id,
        "user_id": b.user_id,
        "car_id": b.car_id,
        "start": b.frame.start,
        "end": b.frame.end,
        "status": b.status.value,
        "created_at": b.created_at,
        "cancelled_at": b.cancelled_at,
        "version": b.version,
    }


def booking_from(d: Document) -> Booking:
    return Booking(
        d["_id"],
        d["tenant_id"],
        d["user_id"],
        d["car_id"],
        TimeFrame(d["start"], d["end"]),
        Status(d["status"]),
        d["created_at"],
        d.get("cancelled_at"),
        d.get("version", 0),
    )


def known_car_document(car: KnownCar) -> Document:
    return {"_id": car.id, "make": car.make, "model": car.model, "number_plate": car.number_plate}


def known_car_from(d: Document) -> KnownCar:
    return KnownCar(d["_id"], d["make"], d["model"], d["number_plate"])
