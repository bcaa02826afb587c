"""The commands the cars service answers, and the events of other services it acts on."""

from __future__ import annotations

from cars.service import CarService, CarsTransaction
from chassis.messaging.subscriptions import Subscriptions
from contracts.bookings import BookingCancelled
from contracts.cars import ReleaseCar, ReserveCar


def subscribe(subscriptions: Subscriptions[CarsTransaction], cars: CarService) -> None:
    subscriptions.on_command(ReserveCar, cars.reserve)
    subscriptions.on_command(ReleaseCar, cars.release)
    subscriptions.on_event(BookingCancelled, cars.booking_cancelled)
