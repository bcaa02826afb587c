"""Fixtures of the cars tests: the use cases on an in-memory unit of work (no MongoDB, no
RabbitMQ), and the service itself on the real ones, over HTTP and AMQP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from cars.domain import Car
from cars.main import CarsSettings, create_app
from cars.repository import PlateTaken
from cars.service import CarService, CarsTransaction, integration_events
from chassis.storage.unit_of_work import Recording
from testkit.fixtures import TestInfra
from testkit.memory import InMemoryUnitOfWork
from testkit.stored import Database
from testkit.web import serving

# --- in memory --------------------------------------------------------------------------------


@dataclass
class Fleet:
    """Every tenant's cars, with all their slots."""

    cars: dict[str, Car] = field(default_factory=dict)


class InMemoryCars:
    def __init__(self, fleet: Fleet, recording: Recording) -> None:
        self._fleet = fleet
        self._recording = recording

    def _tenants(self, car: Car | None) -> Car | None:
        if car is None or car.tenant_id != self._recording.tenant:
            return None
        self._recording.track(car)
        return car

    async def add(self, car: Car) -> None:
        if any(
            (c.tenant_id, c.spec.jurisdiction, c.spec.number_plate)
            == (car.tenant_id, car.spec.jurisdiction, car.spec.number_plate)
            for c in self._fleet.cars.values()
        ):
            raise PlateTaken(f"plate {car.spec.number_plate} is taken")
        self._fleet.cars[car.id] = car
        self._recording.track(car)

    async def get(self, car_id: str, now: datetime) -> Car | None:
        return self._tenants(self._fleet.cars.get(car_id))

    async def holding(self, booking_id: str, now: datetime) -> Car | None:
        held = (c for c in self._fleet.cars.values() if c.reservation_of(booking_id) is not None)
        return self._tenants(next(held, None))

    async def save(self, car: Car) -> None:
        self._fleet.cars[car.id] = car

    async def remove(self, car: Car) -> None:
        del self._fleet.cars[car.id]


class InMemoryCarsTransaction:
    def __init__(self, fleet: Fleet, recording: Recording) -> None:
        self.cars = InMemoryCars(fleet, recording)


CarsUoW = InMemoryUnitOfWork[Fleet, CarsTransaction]


@pytest.fixture
def uow() -> CarsUoW:
    return InMemoryUnitOfWork(Fleet(), InMemoryCarsTransaction, integration_events)


@pytest.fixture
def cars(uow: CarsUoW, now: datetime) -> CarService:
    """The use cases on the in-memory unit of work, their clock stopped at `now`."""
    return CarService(uow, clock=lambda: now)


# --- on MongoDB and RabbitMQ ------------------------------------------------------------------


# Module scope: every cars instance consumes the one `cars.reserve` queue, so an instance left
# running would answer other tests' commands from its own database.
@pytest.fixture(scope="module")
async def cars_url(test_infra: TestInfra) -> AsyncIterator[str]:
    async with serving(create_app(CarsSettings(**test_infra.env("cars")))) as url:
        yield url


@pytest.fixture
async def cars_database(test_infra: TestInfra) -> AsyncIterator[Database]:
    """The cars service's own database, to look into."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(test_infra.mongo_url)
    yield client[test_infra.db_name("cars")]
    await client.close()
