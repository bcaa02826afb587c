"""Cars and their unavailability slots in MongoDB: the repository a transaction holds, and
the queries that read outside one. One mapping each way between documents and the domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from cars.domain import Car, CarSpec, Cause, UnavailabilitySlot
from chassis.errors import Conflict
from chassis.storage.documents import Document
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import Scope
from chassis.timeframe import TimeFrame

CARS = "cars"
SLOTS = "unavailabilities"

INDEXES = {
    CARS: [
        IndexModel([("tenant_id", ASCENDING), ("registered_at", ASCENDING)]),
        IndexModel(
            [("tenant_id", ASCENDING), ("jurisdiction", ASCENDING), ("number_plate", ASCENDING)],
            unique=True,
        ),
    ],
    SLOTS: [
        IndexModel([("car_id", ASCENDING), ("to_utc", ASCENDING)]),
        IndexModel([("tenant_id", ASCENDING), ("from_utc", ASCENDING), ("to_utc", ASCENDING)]),
        # One reservation per booking, whatever a caller retries.
        IndexModel(
            [("booking_id", ASCENDING)],
            unique=True,
            partialFilterExpression={"booking_id": {"$type": "string"}},
        ),
    ],
}


class PlateTaken(Conflict):
    pass


class CarRepository(Protocol):
    """The tenant's cars, as the unit of work's tenant sees them."""

    async def add(self, car: Car) -> None: ...

    async def get(self, car_id: str, now: datetime) -> Car | None:
        """The car, to change it, with its slots that have not ended by `now`. Concurrent
        transactions that get the same car conflict, so they never both take one slot."""
        ...

    async def holding(self, booking_id: str, now: datetime) -> Car | None:
        """The car reserved for the booking, as `get` gives it (None when none is)."""
        ...

    async def save(self, car: Car) -> None: ...

    async def remove(self, car: Car) -> None: ...


class MongoCars:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._cars = scope.collection(CARS)
        self._slots = scope.collection(SLOTS)
        # Slot ids and released bookings each car had when loaded: saving writes what changed.
        self._loaded: dict[str, tuple[set[str], dict[str, datetime]]] = {}

    async def add(self, car: Car) -> None:
        try:
            await self._cars.insert_one(car_document(car))
        except DuplicateKeyError as exc:
            raise PlateTaken(
                f"a car with plate {car.spec.number_plate} in {car.spec.jurisdiction} "
                "is already registered"
            ) from exc
        self._loaded[car.id] = (set(), {})
        self._scope.track(car)

    async def get(self, car_id: str, now: datetime) -> Car | None:
        # Bumping the version is the write that makes concurrent changes of a car conflict.
        doc = await self._cars.find_one_and_update(
            {"_id": car_id, "tenant_id": self._scope.tenant}, {"$inc": {"version": 1}}
        )
        if doc is None:
            return None
        slots = [
            slot_from(s) async for s in self._slots.find({"car_id": car_id, "to_utc": {"$gt": now}})
        ]
        car = car_from(doc, slots)
        self._loaded[car.id] = ({slot.id for slot in slots}, dict(car.released))
        self._scope.track(car)
        return car

    async def holding(self, booking_id: str, now: datetime) -> Car | None:
        slot = await self._slots.find_one(
            {"booking_id": booking_id, "tenant_id": self._scope.tenant}
        )
        if slot is None:
            return None
        car = await self.get(slot["car_id"], now)
        if car is not None and car.reservation_of(booking_id) is None:
            # Ended already: still the booking's to give back.
            car.slots.append(slot_from(slot))
            self._loaded[car.id][0].add(slot["_id"])
        return car

    async def save(self, car: Car) -> None:
        loaded, released = self._loaded[car.id]
        now_held = {slot.id for slot in car.slots}
        added = [slot_document(s) for s in car.slots if s.id not in loaded]
        if added:
            await self._slots.insert_many(added)
        if gone := loaded - now_held:
            await self._slots.delete_many({"_id": {"$in": sorted(gone)}})
        if car.released != released:
            await self._cars.update_one({"_id": car.id}, {"$set": {"released": car.released}})
        self._loaded[car.id] = (now_held, dict(car.released))

    async def remove(self, car: Car) -> None:
        await self._slots.delete_many({"car_id": car.id})
        await self._cars.delete_one({"_id": car.id})


class MongoCarsTransaction:
    def __init__(self, scope: Scope) -> None:
        self.cars = MongoCars(scope)


class CarQueries:
    """Reads that need no transaction; every one is for one tenant."""

    def __init__(self, mongo: Mongo) -> None:
        self._cars = mongo.reader(CARS)
        self._slots = mongo.reader(SLOTS)

    async def car(self, tenant_id: str, car_id: str) -> Car | None:
        doc = await self._cars.find_one({"_id": car_id, "tenant_id": tenant_id})
        return car_from(doc) if doc else None

    async def cars(
        self, tenant_id: str, limit: int, offset: int, exclude: set[str] | None = None
    ) -> list[Car]:
        query: dict[str, Any] = {"tenant_id": tenant_id}
        if exclude:
            query["_id"] = {"$nin": sorted(exclude)}
        cursor = self._cars.find(query).sort([("registered_at", 1), ("_id", 1)])
        return [car_from(d) async for d in cursor.skip(offset).limit(limit)]

    async def available(
        self, tenant_id: str, frame: TimeFrame, limit: int, offset: int
    ) -> list[Car]:
        """Cars with no slot overlapping `frame`."""
        overlapping = {
            "tenant_id": tenant_id,
            "from_utc": {"$lt": frame.end},
            "to_utc": {"$gt": frame.start},
        }
        busy = set(await self._slots.distinct("car_id", overlapping))
        return await self.cars(tenant_id, limit, offset, exclude=busy)

    async def slots(
        self, tenant_id: str, car_id: str, limit: int, offset: int
    ) -> list[UnavailabilitySlot]:
        cursor = self._slots.find({"tenant_id": tenant_id, "car_id": car_id}).sort("from_utc", 1)
        return [slot_from(d) async for d in cursor.skip(offset).limit(limit)]


# --- documents <-> domain ---------------------------------------------------------------------


def car_document(car: Car) -> Document:
    return {
        "_id": car.id,
        "tenant_id": car.tenant_id,
        **vars(car.spec),
        "registered_at": car.registered_at,
        "version": 0,
    }


def car_from(doc: Document, slots: list[UnavailabilitySlot] | None = None) -> Car:
    spec = CarSpec(**{name: doc[name] for name in CarSpec.__dataclass_fields__})
    return Car(
        doc["_id"],
        doc["tenant_id"],
        spec,
        doc["registered_at"],
        slots or [],
        doc.get("released", {}),
    )


def slot_document(slot: UnavailabilitySlot) -> Document:
    return {
        "_id": slot.id,
        "car_id": slot.car_id,
        "tenant_id": slot.tenant_id,
        "from_utc": slot.frame.start,
        "to_utc": slot.frame.end,
        "cause": slot.cause.value,
        "booking_id": slot.booking_id,
    }


def slot_from(doc: Document) -> UnavailabilitySlot:
    return UnavailabilitySlot(
        doc["_id"],
        doc["car_id"],
        doc["tenant_id"],
        TimeFrame(doc["from_utc"], doc["to_utc"]),
        Cause(doc["cause"]),
        doc.get("booking_id"),
    )
