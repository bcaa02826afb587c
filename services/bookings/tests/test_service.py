"""The bookings use cases on the in-memory unit of work, with a stand-in for the cars service:
every path a booking can take, compensations included."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bookings.domain import Booking, BookingNotCancellable, KnownCar, NotYourBooking, Status
from bookings.service import (
    BookingNotFound,
    BookingService,
    CarUnavailable,
    ReservationTimedOut,
    UnknownCar,
)
from chassis.timeframe import TimeFrame
from contracts import bookings as published
from contracts.audits import AuditOutcome, AuditRecorded
from contracts.cars import CarDeleted, CarRegistered, ReservationOutcome, ReservationReply
from contracts.roles import PlatformRole
from contracts.usages import UsageRecorded

TENANT, USER = "tenant-a", "user-a"


def trip(now: datetime, start_h: float = 1, end_h: float = 3) -> TimeFrame:
    return TimeFrame(now + timedelta(hours=start_h), now + timedelta(hours=end_h))


async def test_a_booking_is_recorded_pending_then_confirmed_once_the_car_is_reserved(
    bookings: BookingService, uow, cars, now: datetime
) -> None:
    seen_pending: list[Status] = []

    async def look(booking: Booking) -> None:
        seen_pending.append(uow.state.bookings[booking.id].status)

    cars.meanwhile = look
    booked = await bookings.book(TENANT, USER, "car-1", trip(now))
    booking = booked.booking

    assert seen_pending == [Status.PENDING], "stored before the car was asked"
    assert cars.reserved == [booking.id] and cars.released == []
    assert uow.state.bookings[booking.id].status is Status.CONFIRMED
    assert booked.car == KnownCar("car-1", "Tesla", "Model 3", "AB-123"), "as cars described it"
    made, audited, used = uow.published
    assert {(e.tenant_id, e.actor_id) for e in uow.published} == {(TENANT, USER)}
    assert made.payload(published.BookingMade) == published.BookingMade(
        booking_id=booking.id,
        car_id="car-1",
        start_utc=booking.frame.start,
        end_utc=booking.frame.end,
    )
    assert audited.payload(AuditRecorded) == AuditRecorded(
        action="bookings.booking_made", target=f"booking:{booking.id}"
    )
    assert used.payload(UsageRecorded) == UsageRecorded(
        event="booking_made", properties={"minutes": 120}
    )


@pytest.mark.parametrize(
    ("outcome", "refusal"),
    [
        (ReservationOutcome.UNAVAILABLE, CarUnavailable),
        (ReservationOutcome.UNKNOWN_CAR, UnknownCar),
    ],
)
async def test_a_refused_reservation_leaves_nothing(
    bookings: BookingService, uow, cars, now: datetime, outcome, refusal
) -> None:
    cars.reply = ReservationReply(outcome=outcome, detail="taken from 10:00 to 12:00")
    with pytest.raises(refusal) as raised:
        await bookings.book(TENANT, USER, "car-1", trip(now))
    if refusal is CarUnavailable:
        assert "taken from 10:00" in str(raised.value), "the cars service's reason is passed on"
    assert uow.state.bookings == {}
    # Nothing to tell the other services; the audit trail keeps who tried what.
    [audited] = uow.published
    assert (audited.tenant_id, audited.actor_id) == (TENANT, USER)
    assert audited.payload(AuditRecorded) == AuditRecorded(
        action="bookings.booking_refused",
        target="car:car-1",
        outcome=AuditOutcome.REFUSED,
        detail=str(raised.value),
    )
    assert cars.released == [], "nothing was reserved, nothing to release"


@pytest.mark.parametrize(
    "outcome", [ReservationOutcome.EXPIRED, ReservationOutcome.BOOKING_RELEASED]
)
async def test_a_reservation_refused_as_too_late_is_a_timeout_and_leaves_nothing(
    bookings: BookingService, uow, cars, now: datetime, outcome
) -> None:
    # Cars' clock ran ahead of ours, or a sweep released the booking while we waited.
    cars.reply = ReservationReply(outcome=outcome)
    with pytest.raises(ReservationTimedOut):
        await bookings.book(TENANT, USER, "car-1", trip(now))
    assert uow.state.bookings == {}
    assert uow.published == []
    assert cars.released == [], "cars refused it: nothing to release"


async def test_reserve_times_out_the_car_is_released_and_the_booking_dropped(
    bookings: BookingService, uow, cars, now: datetime
) -> None:
    cars.answers_reserve = False
    with pytest.raises(ReservationTimedOut):
        await bookings.book(TENANT, USER, "car-1", trip(now))
    # The reservation may have been taken just after bookings stopped waiting: released.
    assert len(cars.released) == 1
    assert uow.state.bookings == {}
    assert uow.published == []


async def test_confirm_fails_the_car_is_released(
    bookings: BookingService, uow, cars, now: datetime
) -> None:
    async def swept(booking: Booking) -> None:
        # The sweep gave the booking up while its reservation was on the way.
        del uow.state.bookings[booking.id]

    cars.meanwhile = swept
    with pytest.raises(ReservationTimedOut):
        await bookings.book(TENANT, USER, "car-1", trip(now))
    assert cars.reserved == cars.released != []
    assert uow.state.bookings == {}
    assert uow.published == []


async def test_release_not_confirmed_the_pending_booking_stays_for_the_sweep(
    bookings: BookingService, uow, cars, clock: list[datetime], now: datetime
) -> None:
    cars.answers_reserve = cars.answers_release = False
    with pytest.raises(ReservationTimedOut):
        await bookings.book(TENANT, USER, "car-1", trip(now))
    [stranded] = uow.state.bookings.values()
    assert stranded.status is Status.PENDING

    # While the cars service still does not answer, the sweep keeps it.
    clock[0] = now + timedelta(minutes=5)
    assert await bookings.release_abandoned() == 1
    assert list(uow.state.bookings) == [stranded.id]

    # Once it answers, the next sweep releases the car and drops the booking.
    cars.answers_release = True
    assert await bookings.release_abandoned() == 1
    assert cars.released == [stranded.id]
    assert uow.state.bookings == {}
    assert await bookings.release_abandoned() == 0


async def test_the_sweep_leaves_bookings_still_waiting_for_their_reservation(
    bookings: BookingService, uow, cars, clock: list[datetime], now: datetime
) -> None:
    cars.answers_reserve = cars.answers_release = False
    with pytest.raises(ReservationTimedOut):
        await bookings.book(TENANT, USER, "car-1", trip(now))
    clock[0] = now + timedelta(seconds=10)  # within three reservation timeouts
    cars.answers_release = True
    assert await bookings.release_abandoned() == 0
    assert cars.released == []


async def test_cancelling_frees_the_car_and_tells_the_others(
    bookings: BookingService, uow, cars, now: datetime
) -> None:
    booking = (await bookings.book(TENANT, USER, "car-1", trip(now))).booking
    await bookings.cancel(TENANT, USER, frozenset(), booking.id)
    assert uow.state.bookings[booking.id].status is Status.CANCELLED
    assert cars.released == [booking.id]
    assert uow.events(published.BookingCancelled) == [
        published.BookingCancelled(booking_id=booking.id, car_id="car-1")
    ]
    assert [a.action for a in uow.events(AuditRecorded)] == [
        "bookings.booking_made",
        "bookings.booking_cancelled",
    ]
    assert [u.event for u in uow.events(UsageRecorded)] == ["booking_made", "booking_cancelled"]


async def test_a_cancellation_stands_when_the_release_is_not_confirmed(
    bookings: BookingService, uow, cars, now: datetime
) -> None:
    booking = (await bookings.book(TENANT, USER, "car-1", trip(now))).booking
    cars.answers_release = False
    await bookings.cancel(TENANT, USER, frozenset(), booking.id)
    # Cars also releases on the cancellation event, so the slot is freed anyway.
    assert uow.state.bookings[booking.id].status is Status.CANCELLED
    assert len(uow.events(published.BookingCancelled)) == 1


async def test_only_the_booker_or_operations_cancel_and_only_in_their_tenant(
    bookings: BookingService, uow, now: datetime
) -> None:
    booking = (await bookings.book(TENANT, USER, "car-1", trip(now))).booking
    with pytest.raises(NotYourBooking):
        await bookings.cancel(TENANT, "user-b", frozenset({PlatformRole.STANDARD}), booking.id)
    with pytest.raises(BookingNotFound):
        await bookings.cancel("tenant-b", USER, frozenset(), booking.id)
    ops = frozenset({PlatformRole.STANDARD, PlatformRole.OPERATIONS})
    await bookings.cancel(TENANT, "user-b", ops, booking.id)
    with pytest.raises(BookingNotCancellable):
        await bookings.cancel(TENANT, USER, frozenset(), booking.id)
    assert len(uow.events(published.BookingCancelled)) == 1


async def test_the_car_projection_follows_registrations_and_deletions_in_any_order(
    bookings: BookingService, uow, now: datetime
) -> None:
    registered = CarRegistered(
        car_id="c1", make="Kia", model="Niro", year=2022, jurisdiction="AU", number_plate="K1"
    )
    later = CarRegistered(**{**registered.model_dump(), "car_id": "c2"})
    await uow.deliver(bookings.car_registered, registered, tenant_id=TENANT)
    # c2's deletion arrives before its registration (they travel on different queues).
    await uow.deliver(bookings.car_deleted, CarDeleted(car_id="c2"), tenant_id=TENANT)
    await uow.deliver(bookings.car_registered, later, tenant_id=TENANT)

    assert uow.state.cars["c1"] == (KnownCar("c1", "Kia", "Niro", "K1"), now)
    [(deleted, when)] = [uow.state.cars["c2"]]
    assert deleted is None and when.tzinfo is not None
    with pytest.raises(ValueError, match="tenant"):
        await uow.deliver(bookings.car_deleted, CarDeleted(car_id="c3"), tenant_id=None)
    assert uow.published == []
