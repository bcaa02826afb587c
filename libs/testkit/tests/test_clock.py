"""Times built for tests stay put while the wall clock moves on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from testkit import clock


def test_times_do_not_move_when_the_wall_clock_crosses_the_hour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = clock.hours_from_now(1), clock.hours_from_now(3)

    class AnHourLater(datetime):
        @classmethod
        def now(cls, tz: object = None) -> AnHourLater:  # type: ignore[override]
            later = datetime.now(UTC) + timedelta(hours=1, minutes=1)
            return cls.fromtimestamp(later.timestamp(), UTC)

    # A test that crossed the hour between building its frames would have seen this.
    monkeypatch.setattr(clock, "datetime", AnHourLater)
    assert (clock.hours_from_now(1), clock.hours_from_now(3)) == frame


def test_times_are_whole_hours_a_day_ahead_in_utc() -> None:
    start = datetime.fromisoformat(clock.hours_from_now(1))
    end = datetime.fromisoformat(clock.hours_from_now(2.5, days_ahead=2))
    assert start.utcoffset() == timedelta(0) and (start.minute, start.second) == (0, 0)
    assert end - start == timedelta(days=1, hours=1.5)
    assert start > datetime.now(UTC) + timedelta(hours=12)
