"""Composition root of the cars service."""

from __future__ import annotations

from aiohttp import web

from cars import api, handlers
from cars.domain import CarInUse, CarRuleViolation, SlotConflict
from cars.repository import INDEXES, CarRepository, PlateTaken
from cars.service import CarNotFound, CarService
from chassis.clock import Clock, utc_now
from chassis.service import Chassis
from chassis.settings import ServiceSettings


class CarsSettings(ServiceSettings):
    service_name: str = "cars"
    port: int = 8101


ERRORS: dict[type[Exception], int] = {
    CarNotFound: 404,
    CarRuleViolation: 422,
    SlotConflict: 409,
    CarInUse: 409,
    PlateTaken: 409,
}


def create_app(settings: CarsSettings, clock: Clock = utc_now) -> tuple[web.Application, Chassis]:
    chassis = Chassis(settings, INDEXES)
    cars = CarService(chassis.uow, CarRepository(chassis.mongo), clock)
    handlers.subscribe(chassis.subscriptions, cars)
    return chassis.web_app(api.routes(cars), ERRORS), chassis


def main() -> None:
    settings = CarsSettings()
    app, chassis = create_app(settings)
    chassis.run(app)
