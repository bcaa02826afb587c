"""Bookings: the rules, with no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from chassis.aggregate import Aggregate
from chassis.errors import Conflict, NotAllowed, RuleViolation
from chassis.timeframe import TimeFrame

MIN_DURATION = timedelta(minutes=15)
MAX_DURATION = timedelta(hours=8)
# How far ahead a car can be booked.
MAX_LEAD = timedelta(days=365)


class BookingRuleViolation(RuleViolation):
    pass


class BookingNotPending(Conflict):
    """Only a pending booking can be confirmed or discarded."""


class BookingNotCancellable(Conflict):
    """The booking has started, or is not confirmed."""


class NotYourBooking(NotAllowed):
    """Only the person who booked, or operations, may cancel."""


class Status(StrEnum):
    # Recorded before the car is reserved, so a reservation is never left without a booking.
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class BookingConfirmed:
    booking_id: str
    car_id: str
    frame: TimeFrame


@dataclass(frozen=True)
class BookingCancelled:
    booking_id: str
    car_id: str


@dataclass(frozen=True)
class BookingRefused:
    """The car could not be reserved for the pending booking, which is given up."""

    booking_id: str
    car_id: str
    reason: str


@dataclass
class Booking(Aggregate):
    id: str
    tenant_id: str
    user_id: str
    car_id: str
    frame: TimeFrame
    status: Status
    created_at: datetime
    cancelled_at: datetime | None = None
    # The stored version this object was read at (optimistic concurrency).
    version: int = 0

    @classmethod
    def request(
        cls, tenant_id: str, user_id: str, car_id: str, frame: TimeFrame, now: datetime
    ) -> Booking:
        """A pending booking; it is confirmed once the car is reserved for it."""
        if not MIN_DURATION <= frame.duration <= MAX_DURATION:
            raise BookingRuleViolation("a booking lasts from 15 minutes to 8 hours")
        if frame.start > now + MAX_LEAD:
            raise BookingRuleViolation("a booking can be made at most a year ahead")
        frame.require_not_past(now)
        return cls(uuid.uuid4().hex, tenant_id, user_id, car_id, frame, Status.PENDING, now)

    @property
    def is_pending(self) -> bool:
        return self.status is Status.PENDING

    def confirm(self) -> None:
        if not self.is_pending:
            raise BookingNotPending(f"a {self.status} booking cannot be confirmed")
        self.status = Status.CONFIRMED
        self.record(BookingConfirmed(self.id, self.car_id, self.frame))

    def refuse(self, reason: str) -> None:
        """Cars refused to reserve the car for it: the booking will never be confirmed."""
        if not self.is_pending:
            raise BookingNotPending(f"a {self.status} booking cannot be refused")
        self.record(BookingRefused(self.id, self.car_id, reason))

    def cancel(self, user_id: str, may_cancel_others: bool, now: datetime) -> None:
        if user_id != self.user_id and not may_cancel_others:
            raise NotYourBooking("only the person who made the booking can cancel it")
        if self.status is not Status.CONFIRMED:
            raise BookingNotCancellable(f"the booking is {self.status}, not confirmed")
        if self.frame.start <= now:
            raise BookingNotCancellable("a booking can only be cancelled before it starts")
        self.status = Status.CANCELLED
        self.cancelled_at = now
        self.record(BookingCancelled(self.id, self.car_id))


@dataclass(frozen=True)
class KnownCar:
    """A car as bookings learnt of it from the cars service's events."""

    id: str
    make: str
    model: str
    number_plate: str
