"""Cars and unavailability slots in MongoDB."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from cars.domain import Car, CarSpec, Cause, TimeFrame, UnavailabilitySlot
from chassis.mongo import Mongo, Session

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
        IndexModel([("car_id", ASCENDING), ("from_utc", ASCENDING)]),
        IndexModel([("tenant_id", ASCENDING), ("from_utc", ASCENDING), ("to_utc", ASCENDING)]),
        # One reservation per booking: a retried reserve command finds the first one.
        IndexModel(
            [("booking_id", ASCENDING)],
            unique=True,
            partialFilterExpression={"booking_id": {"$type": "string"}},
        ),
    ],
}


class PlateTaken(Exception):
    pass


class CarRepository:
    def __init__(self, mongo: Mongo) -> None:
        self._cars = mongo.collection(CARS)
        self._slots = mongo.collection(SLOTS)

    async def add(self, car: Car, session: Session) -> None:
        try:
            await self._cars.insert_one(_car_doc(car), session=session)
        except DuplicateKeyError as exc:
            raise PlateTaken(
                f"a car with plate {car.spec.number_plate} in {car.spec.jurisdiction} "
                "is already registered"
            ) from exc

    async def get(self, tenant_id: str, car_id: str) -> Car | None:
        doc = await self._cars.find_one({"_id": car_id, "tenant_id": tenant_id})
        return _car(doc) if doc else None

    async def lock(
        self, tenant_id: str, car_id: str, session: Session, slots_after: datetime
    ) -> Car | None:
        """Load the car for a change, with its slots that end after `slots_after`.

        Bumping the version makes concurrent transactions on the same car conflict, so two
        of them can never both take the same free time.
        """
        doc = await self._cars.find_one_and_update(
            {"_id": car_id, "tenant_id": tenant_id}, {"$inc": {"version": 1}}, session=session
        )
        if doc is None:
            return None
        car = _car(doc)
        cursor = self._slots.find(
            {"car_id": car_id, "to_utc": {"$gt": slots_after}}, session=session
        )
        car.slots = [_slot(s) async for s in cursor]
        return car

    async def add_slot(self, slot: UnavailabilitySlot, session: Session) -> None:
        await self._slots.insert_one(_slot_doc(slot), session=session)

    async def reservation(self, booking_id: str, session: Session) -> UnavailabilitySlot | None:
        doc = await self._slots.find_one({"booking_id": booking_id}, session=session)
        return _slot(doc) if doc else None

    async def remove_slot(self, slot_id: str, session: Session) -> None:
        await self._slots.delete_one({"_id": slot_id}, session=session)

    async def delete(self, car: Car, session: Session) -> None:
        await self._slots.delete_many({"car_id": car.id}, session=session)
        await self._cars.delete_one({"_id": car.id}, session=session)

    async def find(
        self, tenant_id: str, limit: int, offset: int, exclude: set[str] | None = None
    ) -> list[Car]:
        query: dict[str, Any] = {"tenant_id": tenant_id}
        if exclude:
            query["_id"] = {"$nin": sorted(exclude)}
        cursor = self._cars.find(query).sort([("registered_at", 1), ("_id", 1)])
        return [_car(d) async for d in cursor.skip(offset).limit(limit)]

    async def unavailable_car_ids(self, tenant_id: str, frame: TimeFrame) -> set[str]:
        ids = await self._slots.distinct(
            "car_id",
            {
                "tenant_id": tenant_id,
                "from_utc": {"$lt": frame.end},
                "to_utc": {"$gt": frame.start},
            },
        )
        return set(ids)

    async def slots(
        self, tenant_id: str, car_id: str, limit: int, offset: int
    ) -> list[UnavailabilitySlot]:
        cursor = self._slots.find({"tenant_id": tenant_id, "car_id": car_id}).sort("from_utc", 1)
        return [_slot(d) async for d in cursor.skip(offset).limit(limit)]


def _car_doc(car: Car) -> dict[str, Any]:
    return {
        "_id": car.id,
        "tenant_id": car.tenant_id,
        "make": car.spec.make,
        "model": car.spec.model,
        "year": car.spec.year,
        "jurisdiction": car.spec.jurisdiction,
        "number_plate": car.spec.number_plate,
        "registered_at": car.registered_at,
        "version": 0,
    }


def _car(doc: dict[str, Any]) -> Car:
    spec = CarSpec(doc["make"], doc["model"], doc["year"], doc["jurisdiction"], doc["number_plate"])
    return Car(doc["_id"], doc["tenant_id"], spec, doc["registered_at"])


def _slot_doc(slot: UnavailabilitySlot) -> dict[str, Any]:
    return {
        "_id": slot.id,
        "car_id": slot.car_id,
        "tenant_id": slot.tenant_id,
        "from_utc": slot.frame.start,
        "to_utc": slot.frame.end,
        "cause": slot.cause.value,
        "booking_id": slot.booking_id,
    }


def _slot(doc: dict[str, Any]) -> UnavailabilitySlot:
    return UnavailabilitySlot(
        doc["_id"],
        doc["car_id"],
        doc["tenant_id"],
        TimeFrame(doc["from_utc"], doc["to_utc"]),
        Cause(doc["cause"]),
        doc.get("booking_id"),
    )
