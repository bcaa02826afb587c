"""The cars repository on the real MongoDB: what a transaction saves is what the next one
gets, within the tenant the unit of work acts for."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from cars.domain import RELEASE_REMEMBERED, Car, CarSpec, Cause
from cars.main import CarsSettings
from cars.repository import INDEXES, SLOTS, MongoCarsTransaction
from cars.service import CarsTransaction, integration_events
from chassis.storage.mongo import Mongo
from chassis.storage.outbox import OUTBOX
from chassis.storage.unit_of_work import MongoUnitOfWork
from chassis.timeframe import TimeFrame
from contracts import Envelope
from testkit.fixtures import TestInfra

TENANT = "tenant-a"


@pytest.fixture
async def mongo(test_infra: TestInfra) -> AsyncIterator[Mongo]:
    mongo = Mongo.of(CarsSettings(**test_infra.env(f"cars_repo_{uuid.uuid4().hex[:6]}")), INDEXES)
    await mongo.start()
    yield mongo
    await mongo.stop()


@pytest.fixture
def uow(mongo: Mongo) -> MongoUnitOfWork[CarsTransaction]:
    return MongoUnitOfWork(mongo, MongoCarsTransaction, integration_events)


def hours(now: datetime, start: float, end: float) -> TimeFrame:
    return TimeFrame(now + timedelta(hours=start), now + timedelta(hours=end))


async def registered(uow: MongoUnitOfWork[CarsTransaction], now: datetime) -> Car:
    car = Car.register(TENANT, CarSpec("Kia", "Niro", 2022, "AU", uuid.uuid4().hex[:6]), now)

    async def add(tx: CarsTransaction) -> None:
        await tx.cars.add(car)

    await uow.run(add, tenant_id=TENANT)
    return car


async def test_a_saved_car_comes_back_with_the_slots_that_have_not_ended(
    uow: MongoUnitOfWork[CarsTransaction], mongo: Mongo
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    car = await registered(uow, now)

    async def take(tx: CarsTransaction) -> None:
        loaded = await tx.cars.get(car.id, now)
        assert loaded is not None
        loaded.take_out_of_use(hours(now, 1, 2), Cause.MAINTENANCE, now)
        loaded.reserve("b1", hours(now, 3, 4), now)
        await tx.cars.save(loaded)

    await uow.run(take, tenant_id=TENANT)

    async def get(tx: CarsTransaction, at: datetime) -> Car | None:
        return await tx.cars.get(car.id, at)

    again = await uow.run(lambda tx: get(tx, now), tenant_id=TENANT)
    assert again is not None and again.spec == car.spec
    assert [(s.cause, s.booking_id, s.frame) for s in again.slots] == [
        (Cause.MAINTENANCE, None, hours(now, 1, 2)),
        (Cause.RESERVATION, "b1", hours(now, 3, 4)),
    ]
    later = await uow.run(lambda tx: get(tx, now + timedelta(hours=2)), tenant_id=TENANT)
    assert later is not None and [s.booking_id for s in later.slots] == ["b1"]
    assert await uow.run(lambda tx: get(tx, now), tenant_id="tenant-b") is None

    # What the aggregate recorded went out with the changes, for the tenant acted for.
    stored = [Envelope.model_validate_json(r["body"]) async for r in mongo.raw(OUTBOX).find()]
    assert sorted(e.type for e in stored if e.type.startswith("cars.")) == [
        "cars.car_maintenance_scheduled",
        "cars.car_registered",
        "cars.car_reserved",
    ]
    audited = [e.data["action"] for e in stored if e.type == "platform.audit_recorded"]
    assert sorted(audited) == sorted(e.type for e in stored if e.type.startswith("cars."))
    assert {e.tenant_id for e in stored} == {TENANT}


async def test_a_reservation_that_has_ended_is_still_the_bookings_to_release(
    uow: MongoUnitOfWork[CarsTransaction], mongo: Mongo
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    then = now - timedelta(hours=5)
    car = await registered(uow, then)

    async def reserve(tx: CarsTransaction) -> None:
        loaded = await tx.cars.get(car.id, then)
        assert loaded is not None
        loaded.reserve("b-old", hours(then, 1, 2), then)
        await tx.cars.save(loaded)

    await uow.run(reserve, tenant_id=TENANT)

    async def release(tx: CarsTransaction) -> bool:
        holding = await tx.cars.holding("b-old", now)
        assert holding is not None and holding.id == car.id
        released = holding.release("b-old", now) is not None
        await tx.cars.save(holding)
        return released

    assert await uow.run(release, tenant_id=TENANT)
    assert await mongo.raw(SLOTS).count_documents({"car_id": car.id}) == 0
    assert await uow.run(lambda tx: tx.cars.holding("b-old", now), tenant_id=TENANT) is None


async def test_the_car_remembers_the_bookings_it_released_for_a_day(
    uow: MongoUnitOfWork[CarsTransaction], mongo: Mongo
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    car = await registered(uow, now)

    async def release(tx: CarsTransaction, booking_id: str, at: datetime) -> None:
        loaded = await tx.cars.get(car.id, at)
        assert loaded is not None
        assert loaded.release(booking_id, at) is None  # it held nothing for the booking
        await tx.cars.save(loaded)

    long_ago = now - RELEASE_REMEMBERED - timedelta(minutes=1)
    await uow.run(lambda tx: release(tx, "b-old", long_ago), tenant_id=TENANT)
    await uow.run(lambda tx: release(tx, "b1", now), tenant_id=TENANT)

    stored = await mongo.raw("cars").find_one({"_id": car.id})
    assert stored is not None
    assert stored["released"] == {"b1": now + RELEASE_REMEMBERED}, "the old one forgotten"
    reloaded = await uow.run(lambda tx: tx.cars.get(car.id, now), tenant_id=TENANT)
    assert reloaded is not None and reloaded.released == {"b1": now + RELEASE_REMEMBERED}
    assert await uow.run(lambda tx: tx.cars.get(car.id, now), tenant_id="tenant-b") is None
