"""Composition root of the cars service: settings, wiring, run."""

from __future__ import annotations

from aiohttp import web

from cars import api, handlers
from cars.repository import INDEXES, CarQueries, MongoCarsTransaction
from cars.service import CarService, integration_events
from chassis.clock import Clock, utc_now
from chassis.config import ServiceSettings
from chassis.logging import configure_logging
from chassis.messaging.bus import MessageBus
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import MongoUnitOfWork
from chassis.web.app import run, service_app


class CarsSettings(ServiceSettings):
    service_name: str = "cars"
    port: int = 8101


def create_app(settings: CarsSettings, clock: Clock = utc_now) -> web.Application:
    mongo = Mongo.of(settings, INDEXES)
    bus = MessageBus(settings, mongo)
    uow = MongoUnitOfWork(mongo, MongoCarsTransaction, integration_events, bus.relay)
    cars = CarService(uow, clock)
    handlers.subscribe(bus.subscriptions(uow), cars)
    return service_app(settings, api.routes(cars, CarQueries(mongo)), [mongo, bus])


def main() -> None:
    settings = CarsSettings()
    configure_logging(settings.service_name, settings.log_level)
    run(create_app(settings), settings)
