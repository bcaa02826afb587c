"""What the bookings service does with other services' events."""

from __future__ import annotations

from bookings.service import BookingService, BookingsTransaction
from chassis.messaging.subscriptions import Subscriptions
from contracts.cars import CarDeleted, CarRegistered


def subscribe(subscriptions: Subscriptions[BookingsTransaction], bookings: BookingService) -> None:
    subscriptions.on_event(CarRegistered, bookings.car_registered)
    subscriptions.on_event(CarDeleted, bookings.car_deleted)
