from datetime import UTC, datetime, timedelta

import pytest

from cars.domain import (
    Car,
    CarInUse,
    CarRuleViolation,
    CarSpec,
    Cause,
    SlotConflict,
    TimeFrame,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def frame(start_h: float, end_h: float) -> TimeFrame:
    return TimeFrame(NOW + timedelta(hours=start_h), NOW + timedelta(hours=end_h))


def car() -> Car:
    return Car.register(
        "t1", CarSpec.normalised("Toyota", "Prius", 2020, "nz", "abc 123", NOW), NOW
    )


def test_spec_is_normalised() -> None:
    spec = car().spec
    assert (spec.jurisdiction, spec.number_plate) == ("NZ", "ABC 123")


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
        CarSpec.normalised(make, "Golf", year, jurisdiction, plate, NOW)


def test_time_frame_must_be_ordered_and_zoned() -> None:
    with pytest.raises(CarRuleViolation):
        frame(2, 1)
    with pytest.raises(CarRuleViolation):
        TimeFrame(datetime(2026, 1, 1), datetime(2026, 1, 2))


def test_slots_never_overlap_across_causes() -> None:
    c = car()
    c.make_unavailable(frame(1, 3), Cause.MAINTENANCE, NOW)
    for cause, booking in [
        (Cause.OFFLINE, None),
        (Cause.RESERVATION, "b1"),
        (Cause.MAINTENANCE, None),
    ]:
        with pytest.raises(SlotConflict):
            c.make_unavailable(frame(2, 4), cause, NOW, booking)
    # Touching ends do not overlap.
    c.make_unavailable(frame(3, 4), Cause.RESERVATION, NOW, "b2")
    c.make_unavailable(frame(0, 1), Cause.OFFLINE, NOW)
    assert len(c.slots) == 3


def test_past_frames_are_refused() -> None:
    with pytest.raises(CarRuleViolation):
        car().make_unavailable(frame(-2, 1), Cause.MAINTENANCE, NOW)


def test_reservation_names_a_booking_and_nothing_else_does() -> None:
    with pytest.raises(CarRuleViolation):
        car().make_unavailable(frame(1, 2), Cause.RESERVATION, NOW)
    with pytest.raises(CarRuleViolation):
        car().make_unavailable(frame(1, 2), Cause.OFFLINE, NOW, "b1")


def test_car_with_future_reservation_cannot_be_deleted() -> None:
    c = car()
    c.make_unavailable(frame(1, 2), Cause.MAINTENANCE, NOW)
    c.ensure_deletable(NOW)
    c.make_unavailable(frame(5, 6), Cause.RESERVATION, NOW, "b1")
    with pytest.raises(CarInUse):
        c.ensure_deletable(NOW)
    c.ensure_deletable(NOW + timedelta(hours=7))
