"""The car aggregate's rules, and what it records as they are applied."""

from datetime import UTC, datetime, timedelta

import pytest

from cars.domain import (
    BookingReleased,
    Car,
    CarDeleted,
    CarInUse,
    CarRegistered,
    CarRuleViolation,
    CarSpec,
    Cause,
    ReservationExpired,
    ReservationMade,
    ReservationReleased,
    SlotConflict,
    TakenOutOfUse,
)
from chassis.timeframe import InvalidTimeFrame, TimeFrame

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def frame(start_h: float, end_h: float) -> TimeFrame:
    return TimeFrame(NOW + timedelta(hours=start_h), NOW + timedelta(hours=end_h))


def car() -> Car:
    registered = Car.register("t1", CarSpec("Toyota", "Prius", 2020, "nz", "abc  123"), NOW)
    registered.forget_recorded()
    return registered


def test_registering_normalises_the_spec_and_records_it() -> None:
    registered = Car.register("t1", CarSpec(" Toyota ", "Prius", 2020, "nz", "abc  123"), NOW)
    assert registered.spec == CarSpec("Toyota", "Prius", 2020, "NZ", "ABC 123")
    assert registered.recorded == (CarRegistered(registered.id, registered.spec),)
    registered.forget_recorded()
    assert registered.recorded == ()


@pytest.mark.parametrize(
    ("make", "year", "jurisdiction", "plate"),
    [
        (" ", 2020, "NZ", "A1"),
        ("VW", 1899, "NZ", "A1"),
        ("VW", NOW.year + 2, "NZ", "A1"),
        ("VW", 2020, "NZL", "A1"),
        ("VW", 2020, "N1", "A1"),
        ("VW", 2020, "NZ", "A_1"),
        ("VW", 2020, "NZ", "-A1"),
        ("VW", 2020, "NZ", "A" * 16),
    ],
)
def test_invalid_specs_are_refused(make: str, year: int, jurisdiction: str, plate: str) -> None:
    with pytest.raises(CarRuleViolation):
        Car.register("t1", CarSpec(make, "Golf", year, jurisdiction, plate), NOW)


def test_slots_never_overlap_across_causes() -> None:
    c = car()
    c.take_out_of_use(frame(1, 3), Cause.MAINTENANCE, NOW)
    with pytest.raises(SlotConflict):
        c.take_out_of_use(frame(2, 4), Cause.OFFLINE, NOW)
    with pytest.raises(SlotConflict):
        c.take_out_of_use(frame(2, 4), Cause.MAINTENANCE, NOW)
    with pytest.raises(SlotConflict):
        c.reserve("b1", frame(2, 4), NOW)
    # Touching ends do not overlap.
    c.reserve("b2", frame(3, 4), NOW)
    c.take_out_of_use(frame(0, 1), Cause.OFFLINE, NOW)
    assert len(c.slots) == 3
    recorded = c.recorded
    assert [type(e) for e in recorded] == [TakenOutOfUse, ReservationMade, TakenOutOfUse]
    assert [s.cause for s in c.slots] == [Cause.MAINTENANCE, Cause.RESERVATION, Cause.OFFLINE]


def test_past_and_overlong_frames_are_refused() -> None:
    with pytest.raises(InvalidTimeFrame, match="past"):
        car().take_out_of_use(frame(-2, 1), Cause.MAINTENANCE, NOW)
    with pytest.raises(CarRuleViolation, match="year"):
        car().reserve("b1", frame(1, 24 * 367), NOW)
    # A caller's clock may run a little behind ours.
    car().take_out_of_use(frame(-0.01, 1), Cause.MAINTENANCE, NOW)


def test_only_a_booking_makes_a_reservation() -> None:
    with pytest.raises(CarRuleViolation):
        car().take_out_of_use(frame(1, 2), Cause.RESERVATION, NOW)


def test_reserving_again_for_the_same_booking_is_the_same_reservation() -> None:
    c = car()
    first = c.reserve("b1", frame(1, 2), NOW)
    assert c.reserve("b1", frame(1, 2), NOW) == first
    assert c.recorded == (ReservationMade("b1", first),)


def test_a_late_request_or_a_released_booking_is_not_reserved() -> None:
    c = car()
    with pytest.raises(ReservationExpired):
        c.reserve("b1", frame(1, 2), NOW, deadline=NOW)
    assert c.release("b2", NOW) is None
    with pytest.raises(BookingReleased):
        c.reserve("b2", frame(1, 2), NOW, deadline=NOW + timedelta(seconds=5))
    assert c.slots == [] and c.recorded == ()
    held = c.reserve("b3", frame(1, 2), NOW, deadline=NOW + timedelta(seconds=5))
    # Asked again late: the booking holds the car already, which is the answer.
    assert c.reserve("b3", frame(1, 2), NOW + timedelta(seconds=9), deadline=NOW) == held


def test_releasing_gives_the_slot_back_once() -> None:
    c = car()
    slot = c.reserve("b1", frame(1, 2), NOW)
    c.forget_recorded()
    assert c.release("b1", NOW) == slot
    assert c.release("b1", NOW) is None
    assert c.slots == []
    assert c.recorded == (ReservationReleased("b1", slot),)
    c.reserve("b2", frame(1, 2), NOW)


def test_car_with_future_reservation_cannot_be_deleted() -> None:
    c = car()
    c.take_out_of_use(frame(1, 2), Cause.MAINTENANCE, NOW)
    c.reserve("b1", frame(5, 6), NOW)
    c.forget_recorded()
    with pytest.raises(CarInUse):
        c.delete(NOW)
    assert c.recorded == ()
    c.delete(NOW + timedelta(hours=7))
    assert c.recorded == (CarDeleted(c.id),)
