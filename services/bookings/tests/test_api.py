"""Bookings over HTTP, reserving through the real cars service over RabbitMQ, on MongoDB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bookings.domain import Booking, KnownCar
from bookings.repository import CARS, BookingQueries, MongoBookingsTransaction
from bookings.reservations import CarsOverCommands
from bookings.service import BookingService, BookingsTransaction, integration_events
from chassis.messaging.commands import CommandBus
from chassis.storage.mongo import Mongo
from chassis.storage.outbox import OUTBOX
from chassis.storage.unit_of_work import MongoUnitOfWork
from chassis.timeframe import TimeFrame
from contracts import Envelope
from contracts.cars import ReservationOutcome, ReserveCar
from testkit.clock import hours_from_now
from testkit.identity import People, Person
from testkit.mongo_writes import INSERTED_ONCE, WriteCounter, Writes
from testkit.stored import stored_for
from testkit.waiting import eventually

from .conftest import Caller, Services

# `person`: a new person, in an organization (tenant) of their own with nothing in it yet;
# `someone`: a person the module's tests share, for tests that look only at their own cars.


def frame(start: float, end: float) -> tuple[str, str]:
    return hours_from_now(start), hours_from_now(end)


@pytest.fixture
async def mongo(services: Services) -> AsyncIterator[Mongo]:
    """The bookings service's own database, to look into."""
    mongo = Mongo.of(services.bookings_settings)
    yield mongo
    await mongo.stop()


async def test_book_conflict_cancel_and_rebook(
    person: Person, services: Services, mongo: Mongo
) -> None:
    me = Caller.of(person, services)
    car = await me.cars.register_car(make="Kia", model="Niro", jurisdiction="AU")
    # The booking answer shows the car as bookings learnt it from `car_registered`.
    await eventually(lambda: mongo.raw(CARS).find_one({"_id": car.id}))
    booking = await me.bookings.book(car.id, *frame(1, 3))
    assert booking.car is not None and (booking.car.make, booking.car.model) == ("Kia", "Niro")
    clash = await me.bookings.call("POST", "/bookings", json=me.bookings.trip(car.id, *frame(2, 4)))
    assert "unavailable (reservation)" in (clash.problem(409).detail or "")
    slots = await me.cars.unavailabilities(car.id)
    assert [(s.cause, s.booking_id) for s in slots] == [("reservation", booking.id)]
    await me.bookings.cancel_booking(booking.id)
    assert await me.cars.unavailabilities(car.id) == []
    await me.bookings.book(car.id, *frame(2, 4))
    found = await me.bookings.bookings(*frame(0, 5))
    assert [b.status for b in found] == ["cancelled", "confirmed"]
    assert found[1].car is not None and found[1].car.make == "Kia"


async def test_fifty_concurrent_bookings_one_wins(someone: Person, services: Services) -> None:
    me = Caller.of(someone, services)
    car = await me.cars.register_car()
    trip = me.bookings.trip(car.id, *frame(1, 2))
    answers = await asyncio.gather(
        *(me.bookings.call("POST", "/bookings", json=trip) for _ in range(50))
    )
    assert sorted(a.status for a in answers) == [201] + [409] * 49


async def test_bad_bookings_are_refused_and_nothing_is_stored(
    people: People, services: Services, mongo: Mongo
) -> None:
    mine, theirs = await people.person(), await people.person()
    owner, stranger = mine.organization_id, theirs.organization_id
    me = Caller.of(mine, services)
    car = await me.cars.register_car()
    # Its projection is all bookings should hold for the tenant in the end.
    await eventually(lambda: mongo.raw(CARS).find_one({"_id": car.id}))
    trip = me.bookings.trip
    cases: list[dict[str, Any]] = [
        trip("no-such-car", *frame(1, 2)),
        trip(car.id, *frame(2, 1)),
        trip(car.id, *frame(1, 10)),
        trip(car.id, "2020-01-01T10:00:00Z", "2020-01-01T11:00:00Z"),
        {**trip(car.id, *frame(1, 2)), "start_utc": "tomorrow"},
        {**trip(car.id, *frame(1, 2)), "car_id": 7},
    ]
    for body in cases:
        (await me.bookings.call("POST", "/bookings", json=body)).problem(422)
    (
        await Caller.of(theirs, services).bookings.call(
            "POST", "/bookings", json=trip(car.id, *frame(1, 2))
        )
    ).problem(422)
    # An unknown car's booking is stored pending before cars is asked: read the database, as
    # the API leaves pending bookings out. Each refusal leaves its audit record to publish.
    assert await stored_for(mongo.db, owner) == {CARS: 1, OUTBOX: 1}
    assert await stored_for(mongo.db, stranger) == {OUTBOX: 1}
    refusals = [
        Envelope.model_validate_json(row["body"])
        async for row in mongo.db[OUTBOX].find({"body": {"$regex": "booking_refused"}})
    ]
    ours = [(e.tenant_id, e.data["outcome"]) for e in refusals if e.tenant_id in (owner, stranger)]
    assert sorted(ours) == sorted([(owner, "refused"), (stranger, "refused")])
    assert await me.cars.unavailabilities(car.id) == []


async def test_paging_and_frames_are_bounded_before_they_reach_mongodb(
    someone: Person, services: Services
) -> None:
    me = Caller.of(someone, services).bookings
    start, end = frame(0, 1)
    for query in [
        {"from_utc": start, "to_utc": end, "offset": "9223372036854775808"},
        {"from_utc": start, "to_utc": end, "offset": "10001"},
        {"from_utc": "0001-01-01T00:00:00+01:00", "to_utc": end},
        {"from_utc": start, "to_utc": "9999-12-31T23:00:00-05:00"},
    ]:
        (await me.call("GET", "/bookings", params=query)).problem(422)
    await me.expect(
        200, "GET", "/bookings", params={"from_utc": start, "to_utc": end, "offset": 10000}
    )


async def test_only_the_booker_cancels(
    people: People, operator: Person, services: Services
) -> None:
    alice, bob = await people.person(), await people.person()
    ops = await people.promote(operator, await people.person())
    # Alice as she was before joining: acting for her own organization.
    alice_at_home = Caller.of(alice, services)
    alice, bob, ops = await people.organization(alice, bob, ops)
    car = await Caller.of(alice, services).cars.register_car()
    booking = await Caller.of(alice, services).bookings.book(car.id, *frame(1, 2))
    path = f"/bookings/{booking.id}"
    (await Caller.of(bob, services).bookings.call("DELETE", path)).problem(403)
    (await alice_at_home.bookings.call("DELETE", path)).problem(404)
    await Caller.of(ops, services).bookings.cancel_booking(booking.id)


async def test_car_events_reach_the_projection_once(
    person: Person, services: Services, mongo: Mongo
) -> None:
    owner = person.organization_id
    me = Caller.of(person, services)
    projected = mongo.raw(CARS)
    # Counted from MongoDB's own record of writes, which bookings does not write.
    writes = await WriteCounter.start(projected)
    cars = [(await me.cars.register_car(make="Kia")).id for _ in range(5)]
    await me.cars.delete_car(cars[0])
    live = {"tenant_id": owner, "deleted_at": {"$exists": False}}

    async def projected_live() -> list[dict[str, Any]] | None:
        docs = [d async for d in projected.find(live)]
        return docs if sorted(d["_id"] for d in docs) == sorted(cars[1:]) else None

    docs = await eventually(projected_live)
    assert await writes.writes(cars[1:]) == {car: INSERTED_ONCE for car in cars[1:]}
    assert {d["make"] for d in docs} == {"Kia"}
    gone = await projected.find_one({"_id": cars[0]})
    assert gone is not None and gone["deleted_at"]

    # Were the projection to apply a registration again, that would be a write of its own.
    again = KnownCar(docs[0]["_id"], docs[0]["make"], docs[0]["model"], docs[0]["number_plate"])
    uow: MongoUnitOfWork[BookingsTransaction] = MongoUnitOfWork(mongo, MongoBookingsTransaction)

    async def reapply(tx: BookingsTransaction) -> None:
        await tx.known_cars.registered(again, datetime.now(UTC))

    await uow.run(reapply, tenant_id=owner)
    assert await writes.writes([again.id]) == {again.id: Writes(insert=1, update=1)}


async def test_abandoned_pending_bookings_release_their_cars(
    someone: Person, services: Services, mongo: Mongo, commands: CommandBus
) -> None:
    owner = someone.organization_id
    me = Caller.of(someone, services)
    car = await me.cars.register_car()
    uow: MongoUnitOfWork[BookingsTransaction] = MongoUnitOfWork(
        mongo, MongoBookingsTransaction, integration_events
    )
    now = datetime.now(UTC)
    start = now.replace(microsecond=0) + timedelta(days=1)
    # What a crash between reserving and confirming leaves: a pending booking with a slot.
    stranded = Booking.request(
        owner, someone.user_id, car.id, TimeFrame(start, start + timedelta(hours=1)), now
    )

    async def record(tx: BookingsTransaction) -> None:
        await tx.bookings.add(stranded)

    await uow.run(record, tenant_id=owner)
    reserve = ReserveCar(
        tenant_id=owner,
        car_id=car.id,
        booking_id=stranded.id,
        from_utc=stranded.frame.start,
        to_utc=stranded.frame.end,
    )
    assert (await commands.send(reserve, 5)).outcome is ReservationOutcome.RESERVED

    def sweeper(at: datetime) -> BookingService:
        reservations = CarsOverCommands(commands, 5.0)
        pending = BookingQueries(mongo).pending_since_before
        return BookingService(uow, reservations, pending, 5.0, clock=lambda: at)

    assert await sweeper(now).release_abandoned() == 0
    assert await sweeper(now + timedelta(minutes=5)).release_abandoned() == 1

    assert await me.cars.unavailabilities(car.id) == []
    assert await BookingQueries(mongo).pending_since_before(now + timedelta(minutes=5)) == []
    await me.bookings.book(car.id, stranded.frame.start.isoformat(), stranded.frame.end.isoformat())
