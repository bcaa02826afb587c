from datetime import UTC, datetime, timedelta

import pytest

from bookings.domain import (
    Booking,
    BookingNotCancellable,
    BookingRuleViolation,
    NotYourBooking,
    Status,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def booking(start_h: float = 1, hours: float = 2) -> Booking:
    start = NOW + timedelta(hours=start_h)
    made = Booking.request("t", "u1", "car", start, start + timedelta(hours=hours), NOW)
    made.confirm()
    return made


@pytest.mark.parametrize(
    ("start_h", "hours"),
    [(1, 0.2), (1, 8.5), (1, 0), (1, -1), (-1, 2), (24 * 400, 1)],
)
def test_rules_of_a_booking(start_h: float, hours: float) -> None:
    with pytest.raises(BookingRuleViolation):
        booking(start_h, hours)


def test_limits_are_inclusive() -> None:
    assert booking(1, 0.25).status is Status.CONFIRMED
    assert booking(1, 8).status is Status.CONFIRMED


def test_a_booking_is_pending_until_confirmed_once() -> None:
    start = NOW + timedelta(hours=1)
    made = Booking.request("t", "u1", "car", start, start + timedelta(hours=1), NOW)
    assert made.status is Status.PENDING
    with pytest.raises(BookingNotCancellable):
        made.cancel("u1", False, NOW)
    made.confirm()
    with pytest.raises(BookingNotCancellable):
        made.confirm()


def test_cancel_only_before_start_and_once() -> None:
    b = booking()
    b.cancel("u1", False, NOW)
    assert b.status is Status.CANCELLED and b.cancelled_at == NOW
    with pytest.raises(BookingNotCancellable):
        b.cancel("u1", False, NOW)
    started = booking()
    with pytest.raises(BookingNotCancellable):
        started.cancel("u1", False, started.start)


def test_only_the_booker_or_operations_cancel() -> None:
    with pytest.raises(NotYourBooking):
        booking().cancel("u2", False, NOW)
    booking().cancel("u2", True, NOW)
