"""A time frame: from a start to an end, both instants in UTC. One model for every service.

Frames compare as half-open intervals [start, end): one that ends when another starts does
not overlap it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chassis.errors import RuleViolation

# Callers' clocks drift: a frame may start this much before "now" as seen here.
CLOCK_SKEW = timedelta(minutes=1)


class InvalidTimeFrame(RuleViolation):
    pass


@dataclass(frozen=True)
class TimeFrame:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidTimeFrame("times must carry a UTC offset")
        try:
            start, end = self.start.astimezone(UTC), self.end.astimezone(UTC)
        except OverflowError as exc:
            # 0001-01-01T00:00+01:00 is a valid time with no UTC year to fall in.
            raise InvalidTimeFrame("times must fall within the years 1 to 9999 in UTC") from exc
        if start >= end:
            raise InvalidTimeFrame("the start must be before the end")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def overlaps(self, other: TimeFrame) -> bool:
        return self.start < other.end and other.start < self.end

    def require_not_past(self, now: datetime) -> None:
        """Refuse a frame that starts in the past (allowing for clock skew)."""
        if self.start < now - CLOCK_SKEW:
            raise InvalidTimeFrame("the time frame must not start in the past")
