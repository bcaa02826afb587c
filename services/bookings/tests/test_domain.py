"""The booking aggregate's rules, and what it records as they are applied."""

from datetime import UTC, datetime, timedelta

import pytest

from bookings.domain import (
    Booking,
    BookingCancelled,
    BookingConfirmed,
    BookingNotCancellable,
    BookingNotPending,
    BookingRefused,
    BookingRuleViolation,
    NotYourBooking,
    Status,
)
from chassis.timeframe import InvalidTimeFrame, TimeFrame

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def requested(start_h: float = 1, hours: float = 2) -> Booking:
    start = NOW + timedelta(hours=start_h)
    return Booking.request("t", "u1", "car", TimeFrame(start, start + timedelta(hours=hours)), NOW)


def booking(start_h: float = 1, hours: float = 2) -> Booking:
    made = requested(start_h, hours)
    made.confirm()
    made.forget_recorded()
    return made


@pytest.mark.parametrize(("start_h", "hours"), [(1, 0.2), (1, 8.5), (24 * 400, 1)])
def test_rules_of_a_booking(start_h: float, hours: float) -> None:
    with pytest.raises(BookingRuleViolation):
        requested(start_h, hours)


def test_a_booking_cannot_start_in_the_past() -> None:
    with pytest.raises(InvalidTimeFrame, match="past"):
        requested(-1, 2)


def test_limits_are_inclusive() -> None:
    assert booking(1, 0.25).status is Status.CONFIRMED
    assert booking(1, 8).status is Status.CONFIRMED


def test_a_booking_is_pending_until_confirmed_once() -> None:
    made = requested()
    assert made.status is Status.PENDING
    with pytest.raises(BookingNotCancellable):
        made.cancel("u1", False, NOW)
    assert made.recorded == ()
    made.confirm()
    assert made.recorded == (BookingConfirmed(made.id, "car", made.frame),)
    with pytest.raises(BookingNotPending):
        made.confirm()


def test_only_a_pending_booking_is_refused() -> None:
    made = requested()
    made.refuse("taken")
    assert made.recorded == (BookingRefused(made.id, "car", "taken"),)
    with pytest.raises(BookingNotPending):
        booking().refuse("taken")


def test_cancel_only_before_start_and_once() -> None:
    b = booking()
    b.cancel("u1", False, NOW)
    assert b.status is Status.CANCELLED and b.cancelled_at == NOW
    assert b.recorded == (BookingCancelled(b.id, "car"),)
    with pytest.raises(BookingNotCancellable):
        b.cancel("u1", False, NOW)
    started = booking()
    with pytest.raises(BookingNotCancellable):
        started.cancel("u1", False, started.frame.start)


def test_only_the_booker_or_operations_cancel() -> None:
    with pytest.raises(NotYourBooking):
        booking().cancel("u2", False, NOW)
    booking().cancel("u2", True, NOW)
