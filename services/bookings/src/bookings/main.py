"""Composition root of the bookings service: settings, wiring, run."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from bookings import api, handlers
from bookings.repository import INDEXES, BookingQueries, MongoBookingsTransaction
from bookings.reservations import CarsOverCommands
from bookings.service import BookingService, integration_events
from chassis.clock import Clock, utc_now
from chassis.config import ServiceSettings
from chassis.jobs import Jobs
from chassis.logging import configure_logging
from chassis.messaging.bus import MessageBus
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import MongoUnitOfWork
from chassis.web.app import run, service_app


class BookingsSettings(ServiceSettings):
    service_name: str = "bookings"
    port: int = 8102
    reserve_timeout_seconds: float = Field(default=5.0, gt=0)
    abandoned_sweep_seconds: float = Field(default=30.0, gt=0)


def create_app(settings: BookingsSettings, clock: Clock = utc_now) -> web.Application:
    mongo = Mongo.of(settings, INDEXES)
    bus = MessageBus(settings, mongo)
    uow = MongoUnitOfWork(mongo, MongoBookingsTransaction, integration_events, bus.relay)
    queries = BookingQueries(mongo)
    bookings = BookingService(
        uow,
        CarsOverCommands(bus.commands, settings.reserve_timeout_seconds),
        queries.pending_since_before,
        settings.reserve_timeout_seconds,
        clock,
    )
    handlers.subscribe(bus.subscriptions(uow), bookings)
    jobs = Jobs()
    jobs.every(settings.abandoned_sweep_seconds, "release_abandoned", bookings.release_abandoned)
    return service_app(settings, api.routes(bookings, queries), [mongo, bus, jobs])


def main() -> None:
    settings = BookingsSettings()
    configure_logging(settings.service_name, settings.log_level)
    run(create_app(settings), settings)
