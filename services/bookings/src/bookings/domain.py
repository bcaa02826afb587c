"""Bookings: the rules, with no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

MIN_DURATION = timedelta(minutes=15)
MAX_DURATION = timedelta(hours=8)
# How far ahead a car can be booked.
MAX_LEAD = timedelta(days=365)
CLOCK_SKEW = timedelta(minutes=1)


class BookingRuleViolation(ValueError):
    """The booking breaks a rule (answered as 422)."""


class BookingNotCancellable(Exception):
    """The booking has started or is cancelled already (answered as 409)."""


class NotYourBooking(Exception):
    """Only the person who booked, or operations, may cancel (answered as 403)."""


class Status(StrEnum):
    # Recorded before the car is reserved, so a reservation is never left without a booking.
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


@dataclass
class Booking:
    id: str
    tenant_id: str
    user_id: str
    car_id: str
    start: datetime
    end: datetime
    status: Status
    created_at: datetime
    cancelled_at: datetime | None = None

    @classmethod
    def request(
        cls,
        tenant_id: str,
        user_id: str,
        car_id: str,
        start: datetime,
        end: datetime,
        now: datetime,
    ) -> Booking:
        """A pending booking; it is confirmed once the car is reserved for it."""
        if start.tzinfo is None or end.tzinfo is None:
            raise BookingRuleViolation("times must carry a UTC offset")
        if start >= end:
            raise BookingRuleViolation("the start must be before the end")
        if not MIN_DURATION <= end - start <= MAX_DURATION:
            raise BookingRuleViolation("a booking lasts from 15 minutes to 8 hours")
        if start < now - CLOCK_SKEW:
            raise BookingRuleViolation("a booking cannot start in the past")
        if start > now + MAX_LEAD:
            raise BookingRuleViolation("a booking can be made at most a year ahead")
        return cls(uuid.uuid4().hex, tenant_id, user_id, car_id, start, end, Status.PENDING, now)

    def confirm(self) -> None:
        if self.status is not Status.PENDING:
            raise BookingNotCancellable(f"a {self.status} booking cannot be confirmed")
        self.status = Status.CONFIRMED

    def cancel(self, user_id: str, is_operator: bool, now: datetime) -> None:
        if user_id != self.user_id and not is_operator:
            raise NotYourBooking("only the person who made the booking can cancel it")
        if self.status is not Status.CONFIRMED:
            raise BookingNotCancellable(f"the booking is {self.status}, not confirmed")
        if self.start <= now:
            raise BookingNotCancellable("a booking can only be cancelled before it starts")
        self.status = Status.CANCELLED
        self.cancelled_at = now
