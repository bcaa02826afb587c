"""A release never misses a reservation that commits late: the reserve is held inside its
transaction, after it found the car free, while the release of its booking comes in; on the
real MongoDB and RabbitMQ, the commands sent by hand."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

import pytest

import cars.main
from cars.domain import Car
from cars.main import CarsSettings, create_app
from cars.repository import MongoCars, MongoCarsTransaction
from chassis.messaging.commands import CommandBus
from chassis.storage.unit_of_work import Scope
from contracts.cars import ReleaseCar, ReleaseOutcome, ReservationOutcome, ReserveCar
from testkit.api import PlatformClient
from testkit.clock import hours_from_now
from testkit.fixtures import TestInfra
from testkit.identity import Person
from testkit.web import serving

# How long the test waits for a step that happens at once, before calling it hung.
STEP = 30.0


@dataclass
class Hold:
    """Holds every save of a car, in its transaction, until let go; tells when a release
    has looked for the booking's car."""

    saving: asyncio.Event = field(default_factory=asyncio.Event)
    go: asyncio.Event = field(default_factory=asyncio.Event)
    release_looked: asyncio.Event = field(default_factory=asyncio.Event)


def held_by(hold: Hold) -> type[MongoCarsTransaction]:
    class HeldCars(MongoCars):
        async def save(self, car: Car) -> None:
            hold.saving.set()
            await hold.go.wait()
            await super().save(car)

        async def holding(self, booking_id: str, now: datetime) -> Car | None:
            hold.release_looked.set()
            return await super().holding(booking_id, now)

    class HeldTransaction(MongoCarsTransaction):
        def __init__(self, scope: Scope) -> None:
            super().__init__(scope)
            self.cars = HeldCars(scope)

    return HeldTransaction


@pytest.fixture
def hold(monkeypatch: pytest.MonkeyPatch) -> Hold:
    hold = Hold()
    monkeypatch.setattr(cars.main, "MongoCarsTransaction", held_by(hold))
    return hold


# Function scope, alone in its module: the one instance consuming `cars.reserve` meanwhile.
@pytest.fixture
async def me(hold: Hold, test_infra: TestInfra, person: Person) -> AsyncIterator[PlatformClient]:
    async with serving(create_app(CarsSettings(**test_infra.env("cars_held")))) as url:
        yield person.calling(url)


async def test_a_release_while_the_reservation_commits_frees_the_car(
    me: PlatformClient, person: Person, hold: Hold, commands: CommandBus
) -> None:
    tenant = person.organization_id
    car = await me.register_car()
    booking = uuid.uuid4().hex
    reserve = ReserveCar(
        tenant_id=tenant,
        car_id=car.id,
        booking_id=booking,
        from_utc=hours_from_now(1),  # type: ignore[arg-type]
        to_utc=hours_from_now(2),  # type: ignore[arg-type]
    )
    release = ReleaseCar(tenant_id=tenant, car_id=car.id, booking_id=booking)

    reserving = asyncio.create_task(commands.send(reserve, STEP))
    await asyncio.wait_for(hold.saving.wait(), STEP)  # found the car free; not committed yet
    releasing = asyncio.create_task(commands.send(release, STEP))
    await asyncio.wait_for(hold.release_looked.wait(), STEP)
    hold.go.set()

    reserved, released = await asyncio.gather(reserving, releasing)
    assert reserved.outcome is ReservationOutcome.RESERVED
    assert released.outcome is ReleaseOutcome.RELEASED
    assert await me.unavailabilities(car.id) == []
