"""Composition root of the bookings service."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from bookings import api, handlers
from bookings.domain import BookingNotCancellable, BookingRuleViolation, NotYourBooking
from bookings.repository import INDEXES, BookingRepository
from bookings.service import (
    BookingNotFound,
    BookingService,
    CarUnavailable,
    ReservationsUnavailable,
    UnknownCar,
)
from chassis.clock import Clock, utc_now
from chassis.service import Chassis
from chassis.settings import ServiceSettings


class BookingsSettings(ServiceSettings):
    service_name: str = "bookings"
    port: int = 8102
    reserve_timeout_seconds: float = Field(default=5.0, gt=0)
    abandoned_sweep_seconds: float = Field(default=30.0, gt=0)


ERRORS: dict[type[Exception], int] = {
    BookingNotFound: 404,
    BookingRuleViolation: 422,
    UnknownCar: 422,
    CarUnavailable: 409,
    BookingNotCancellable: 409,
    NotYourBooking: 403,
    ReservationsUnavailable: 503,
}


def create_app(
    settings: BookingsSettings, clock: Clock = utc_now
) -> tuple[web.Application, Chassis]:
    chassis = Chassis(settings, INDEXES)
    repo = BookingRepository(chassis.mongo)
    bookings = BookingService(
        chassis.uow, repo, chassis.commands, settings.reserve_timeout_seconds, clock
    )
    handlers.subscribe(chassis.subscriptions, repo)
    chassis.every(settings.abandoned_sweep_seconds, "release_abandoned", bookings.release_abandoned)
    return chassis.web_app(api.routes(bookings), ERRORS), chassis


def main() -> None:
    settings = BookingsSettings()
    app, chassis = create_app(settings)
    chassis.run(app)
