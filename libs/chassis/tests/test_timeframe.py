"""One time-frame model for every service: ordered, zoned, UTC, half-open."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from chassis.errors import RuleViolation
from chassis.timeframe import CLOCK_SKEW, InvalidTimeFrame, TimeFrame

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def test_a_frame_is_ordered_and_zoned() -> None:
    with pytest.raises(InvalidTimeFrame, match="before the end"):
        TimeFrame(NOW, NOW)
    with pytest.raises(InvalidTimeFrame, match="offset"):
        TimeFrame(datetime(2026, 1, 1), datetime(2026, 1, 2))
    assert issubclass(InvalidTimeFrame, RuleViolation)


def test_a_frame_falls_within_the_calendar_in_utc() -> None:
    earliest = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(InvalidTimeFrame, match="years 1 to 9999"):
        TimeFrame(earliest, NOW)
    latest = datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))
    with pytest.raises(InvalidTimeFrame, match="years 1 to 9999"):
        TimeFrame(NOW, latest)


def test_a_frame_is_kept_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    frame = TimeFrame(datetime(2026, 6, 1, 14, tzinfo=plus_two), NOW + timedelta(hours=1))
    assert frame.start == NOW and frame.start.tzinfo is UTC
    assert frame.duration == timedelta(hours=1)


def test_frames_that_touch_do_not_overlap() -> None:
    first = TimeFrame(NOW, NOW + timedelta(hours=1))
    assert not first.overlaps(TimeFrame(NOW + timedelta(hours=1), NOW + timedelta(hours=2)))
    assert first.overlaps(TimeFrame(NOW + timedelta(minutes=59), NOW + timedelta(hours=2)))


def test_a_frame_may_start_in_the_past_only_by_the_clock_skew() -> None:
    TimeFrame(NOW - CLOCK_SKEW, NOW + timedelta(hours=1)).require_not_past(NOW)
    late = TimeFrame(NOW - CLOCK_SKEW - timedelta(seconds=1), NOW + timedelta(hours=1))
    with pytest.raises(InvalidTimeFrame, match="past"):
        late.require_not_past(NOW)
