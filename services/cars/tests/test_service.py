"""The cars use cases on the in-memory unit of work: what they store, answer and publish."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cars.domain import (
    RELEASE_REMEMBERED,
    CarInUse,
    CarRuleViolation,
    CarSpec,
    Cause,
    SlotConflict,
)
from cars.repository import PlateTaken
from cars.service import CarNotFound, CarService
from chassis.timeframe import TimeFrame
from contracts import cars as published
from contracts.audits import AuditRecorded
from contracts.bookings import BookingCancelled
from contracts.cars import (
    ReleaseCar,
    ReleaseOutcome,
    ReservationOutcome,
    ReserveCar,
    ReservedCar,
)
from contracts.usages import UsageRecorded

TENANT, USER = "tenant-a", "user-a"


def spec(plate: str = "abc  123") -> CarSpec:
    return CarSpec("Toyota", "Prius", 2021, "nz", plate)


def hours(now: datetime, start: float, end: float) -> TimeFrame:
    return TimeFrame(now + timedelta(hours=start), now + timedelta(hours=end))


def reserve(
    car_id: str,
    booking: str,
    frame: TimeFrame,
    tenant: str = TENANT,
    deadline: datetime | None = None,
) -> ReserveCar:
    return ReserveCar(
        tenant_id=tenant,
        car_id=car_id,
        booking_id=booking,
        from_utc=frame.start,
        to_utc=frame.end,
        deadline=deadline,
    )


def release(car_id: str, booking: str, tenant: str = TENANT) -> ReleaseCar:
    return ReleaseCar(tenant_id=tenant, car_id=car_id, booking_id=booking)


async def test_registering_stores_the_car_and_tells_the_others(cars: CarService, uow) -> None:
    car = await cars.register(TENANT, USER, spec())
    assert uow.state.cars[car.id].spec.number_plate == "ABC 123"
    told, audited, used = uow.published
    # One who, tenant and correlation for the three: the envelope's, not the records'.
    assert {(e.tenant_id, e.actor_id, e.correlation_id) for e in uow.published} == {
        (TENANT, USER, told.correlation_id)
    }
    assert told.payload(published.CarRegistered) == published.CarRegistered(
        car_id=car.id,
        make="Toyota",
        model="Prius",
        year=2021,
        jurisdiction="NZ",
        number_plate="ABC 123",
    )
    assert audited.payload(AuditRecorded) == AuditRecorded(
        action="cars.car_registered", target=f"car:{car.id}"
    )
    # The plate, which may name a person, stays out of product analytics.
    assert used.payload(UsageRecorded) == UsageRecorded(
        event="car_registered", properties={"make": "Toyota", "model": "Prius", "year": 2021}
    )


async def test_every_change_is_audited_and_product_actions_are_counted(
    cars: CarService, uow, now: datetime
) -> None:
    car = await cars.register(TENANT, USER, spec())
    await cars.take_out_of_use(TENANT, USER, car.id, hours(now, 1, 3), Cause.MAINTENANCE)
    await cars.take_out_of_use(TENANT, USER, car.id, hours(now, 4, 4.5), Cause.OFFLINE)
    assert (await cars.reserve(reserve(car.id, "b1", hours(now, 5, 6)))).outcome is (
        ReservationOutcome.RESERVED
    )
    await cars.release(release(car.id, "b1"))
    target = f"car:{car.id}"
    assert uow.events(AuditRecorded) == [
        AuditRecorded(action="cars.car_registered", target=target),
        AuditRecorded(action="cars.car_maintenance_scheduled", target=target),
        AuditRecorded(action="cars.car_taken_offline", target=target),
        AuditRecorded(action="cars.car_reserved", target=target, detail="for booking b1"),
        AuditRecorded(action="cars.car_released", target=target, detail="for booking b1"),
    ]
    # A reservation is the consequence of a booking, which bookings counts.
    assert [(u.event, u.properties) for u in uow.events(UsageRecorded)] == [
        ("car_registered", {"make": "Toyota", "model": "Prius", "year": 2021}),
        ("car_maintenance_scheduled", {"hours": 2.0}),
        ("car_taken_offline", {"hours": 0.5}),
    ]
    await cars.delete(TENANT, USER, car.id)
    assert uow.events(AuditRecorded)[-1] == AuditRecorded(action="cars.car_deleted", target=target)
    assert uow.events(UsageRecorded)[-1] == UsageRecorded(event="car_deleted")


async def test_a_refused_registration_stores_and_publishes_nothing(cars: CarService, uow) -> None:
    await cars.register(TENANT, USER, spec())
    with pytest.raises(PlateTaken):
        await cars.register(TENANT, USER, spec("ABC 123"))
    with pytest.raises(CarRuleViolation):
        await cars.register(TENANT, USER, CarSpec("VW", "Golf", 1800, "NZ", "X1"))
    assert len(uow.state.cars) == 1 and len(uow.events(published.CarRegistered)) == 1
    assert len(uow.events(AuditRecorded)) == len(uow.published) // 3 == 1
    # A plate is unique per tenant, not across tenants.
    await cars.register("tenant-b", USER, spec())


@pytest.mark.parametrize(
    ("cause", "event"),
    [
        (Cause.MAINTENANCE, published.CarMaintenanceScheduled),
        (Cause.OFFLINE, published.CarTakenOffline),
    ],
)
async def test_taking_a_car_out_of_use(cars: CarService, uow, now: datetime, cause, event) -> None:
    car = await cars.register(TENANT, USER, spec())
    slot = await cars.take_out_of_use(TENANT, USER, car.id, hours(now, 1, 3), cause)
    assert uow.events(event) == [
        event(car_id=car.id, slot_id=slot.id, from_utc=slot.frame.start, to_utc=slot.frame.end)
    ]
    with pytest.raises(SlotConflict):
        await cars.take_out_of_use(TENANT, USER, car.id, hours(now, 2, 4), Cause.OFFLINE)
    with pytest.raises(CarNotFound):
        await cars.take_out_of_use("tenant-b", USER, car.id, hours(now, 5, 6), cause)
    assert [e.type for e in uow.published if e.type.startswith("cars.")] == [
        published.CarRegistered.event_type,
        event.event_type,
    ]
    assert [s.id for s in uow.state.cars[car.id].slots] == [slot.id]


async def test_reserving_answers_each_case(cars: CarService, uow, now: datetime) -> None:
    car = await cars.register(TENANT, USER, spec())
    frame = hours(now, 1, 2)

    reply = await cars.reserve(reserve(car.id, "b1", frame))
    assert reply.outcome is ReservationOutcome.RESERVED
    assert reply.car == ReservedCar(
        make=car.spec.make, model=car.spec.model, number_plate=car.spec.number_plate
    )
    [reserved] = uow.events(published.CarReserved)
    assert (reserved.booking_id, reserved.from_utc) == ("b1", frame.start)

    again = await cars.reserve(reserve(car.id, "b1", frame))
    assert again.outcome is ReservationOutcome.RESERVED
    clash = await cars.reserve(reserve(car.id, "b2", hours(now, 1.5, 3)))
    assert clash.outcome is ReservationOutcome.UNAVAILABLE and clash.detail
    unknown = await cars.reserve(reserve("no-such-car", "b3", frame))
    assert unknown.outcome is ReservationOutcome.UNKNOWN_CAR
    elsewhere = await cars.reserve(reserve(car.id, "b4", hours(now, 5, 6), tenant="tenant-b"))
    assert elsewhere.outcome is ReservationOutcome.UNKNOWN_CAR
    past = await cars.reserve(reserve(car.id, "b5", hours(now, -5, -4)))
    assert past.outcome is ReservationOutcome.INVALID and "past" in (past.detail or "")

    assert len(uow.events(published.CarReserved)) == 1
    assert len(uow.state.cars[car.id].slots) == 1


async def test_releasing_frees_the_slot_once(cars: CarService, uow, now: datetime) -> None:
    car = await cars.register(TENANT, USER, spec())
    await cars.reserve(reserve(car.id, "b1", hours(now, 1, 2)))
    assert (await cars.release(release(car.id, "b1", tenant="tenant-b"))).outcome is (
        ReleaseOutcome.NOT_RESERVED
    )
    assert (await cars.release(release(car.id, "b1"))).outcome is ReleaseOutcome.RELEASED
    assert (await cars.release(release(car.id, "b1"))).outcome is ReleaseOutcome.NOT_RESERVED
    assert uow.events(published.CarReleased) == [
        published.CarReleased(car_id=car.id, booking_id="b1")
    ]
    assert uow.state.cars[car.id].slots == []


async def test_a_reservation_handled_at_its_deadline_is_refused(
    cars: CarService, uow, now: datetime
) -> None:
    car = await cars.register(TENANT, USER, spec())
    late = await cars.reserve(reserve(car.id, "b1", hours(now, 1, 2), deadline=now))
    assert late.outcome is ReservationOutcome.EXPIRED
    assert uow.state.cars[car.id].slots == []
    assert uow.events(published.CarReserved) == []

    in_time = reserve(car.id, "b2", hours(now, 1, 2), deadline=now + timedelta(seconds=5))
    assert (await cars.reserve(in_time)).outcome is ReservationOutcome.RESERVED


async def test_a_release_before_the_reservation_leaves_a_mark_that_refuses_it(
    cars: CarService, uow, now: datetime
) -> None:
    car = await cars.register(TENANT, USER, spec())
    soon = now + timedelta(seconds=5)
    # Bookings gave up waiting and released before cars got to the reservation.
    assert (await cars.release(release(car.id, "b1"))).outcome is ReleaseOutcome.NOT_RESERVED
    assert uow.state.cars[car.id].released == {"b1": now + RELEASE_REMEMBERED}

    refused = await cars.reserve(reserve(car.id, "b1", hours(now, 1, 2), deadline=soon))
    assert refused.outcome is ReservationOutcome.BOOKING_RELEASED
    assert uow.state.cars[car.id].slots == []
    assert uow.events(published.CarReserved) == uow.events(published.CarReleased) == []

    # The mark is the releasing tenant's: it refuses nothing to another.
    await cars.release(release(car.id, "b2", tenant="tenant-b"))
    other = await cars.reserve(reserve(car.id, "b2", hours(now, 1, 2), deadline=soon))
    assert other.outcome is ReservationOutcome.RESERVED


async def test_a_release_after_the_reservation_still_releases(
    cars: CarService, uow, now: datetime
) -> None:
    car = await cars.register(TENANT, USER, spec())
    command = reserve(car.id, "b1", hours(now, 1, 2), deadline=now + timedelta(seconds=5))
    assert (await cars.reserve(command)).outcome is ReservationOutcome.RESERVED
    assert (await cars.release(release(car.id, "b1"))).outcome is ReleaseOutcome.RELEASED
    assert uow.state.cars[car.id].slots == []
    assert uow.events(published.CarReleased) == [
        published.CarReleased(car_id=car.id, booking_id="b1")
    ]
    # The same request delivered again (cars died before acknowledging it) reserves nothing.
    again = await cars.reserve(command)
    assert again.outcome is ReservationOutcome.BOOKING_RELEASED
    assert uow.state.cars[car.id].slots == []


async def test_a_cancelled_booking_releases_its_car(cars: CarService, uow, now: datetime) -> None:
    car = await cars.register(TENANT, USER, spec())
    await cars.reserve(reserve(car.id, "b1", hours(now, 1, 2)))
    event = BookingCancelled(booking_id="b1", car_id=car.id)

    await uow.deliver(cars.booking_cancelled, event, tenant_id=TENANT, actor_id=USER)
    # Redelivered (the inbox would skip it; the release is harmless anyway).
    await uow.deliver(cars.booking_cancelled, event, tenant_id=TENANT, actor_id=USER)

    assert uow.state.cars[car.id].slots == []
    assert len(uow.events(published.CarReleased)) == 1
    assert "b1" in uow.state.cars[car.id].released


async def test_a_car_with_reservations_to_come_is_not_deleted(
    cars: CarService, uow, now: datetime
) -> None:
    car = await cars.register(TENANT, USER, spec())
    await cars.reserve(reserve(car.id, "b1", hours(now, 1, 2)))
    with pytest.raises(CarInUse):
        await cars.delete(TENANT, USER, car.id)
    await cars.release(release(car.id, "b1"))
    with pytest.raises(CarNotFound):
        await cars.delete("tenant-b", USER, car.id)
    await cars.delete(TENANT, USER, car.id)
    assert uow.state.cars == {}
    assert uow.events(published.CarDeleted) == [published.CarDeleted(car_id=car.id)]
