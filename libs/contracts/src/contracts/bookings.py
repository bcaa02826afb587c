"""Booking events."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime

from contracts.envelope import TenantEvent


class BookingMade(TenantEvent):
    event_type: ClassVar[str] = "bookings.booking_made"

    booking_id: str
    car_id: str
    start_utc: AwareDatetime
    end_utc: AwareDatetime


class BookingCancelled(TenantEvent):
    event_type: ClassVar[str] = "bookings.booking_cancelled"

    booking_id: str
    car_id: str
