"""A reservation the cars service answers after bookings gave up never strands the car: the
bad order forced on the real MongoDB and RabbitMQ, through both services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

import cars.main
from bookings.main import BookingsSettings, create_app
from cars.main import CarsSettings
from cars.main import create_app as create_cars_app
from cars.service import CarService
from contracts.cars import ReservationOutcome, ReservationReply, ReserveCar
from testkit.clock import hours_from_now
from testkit.fixtures import TestInfra
from testkit.identity import Person
from testkit.web import serving

from .conftest import Caller

# Short, so that bookings gives up quickly; the test never depends on how long anything takes.
RESERVE_TIMEOUT = 1.0
# How long the test waits for a step that happens at once, before calling it hung.
STEP = 30.0


@dataclass
class Hold:
    """Keeps each reservation the cars service has taken off its queue until let go."""

    taken: asyncio.Event = field(default_factory=asyncio.Event)
    go: asyncio.Event = field(default_factory=asyncio.Event)
    replies: asyncio.Queue[ReservationReply] = field(default_factory=asyncio.Queue)


def held_by(hold: Hold) -> type[CarService]:
    class HeldCarService(CarService):
        async def reserve(self, command: ReserveCar) -> ReservationReply:
            hold.taken.set()
            await hold.go.wait()
            reply = await super().reserve(command)
            await hold.replies.put(reply)
            return reply

    return HeldCarService


@pytest.fixture
def hold(monkeypatch: pytest.MonkeyPatch) -> Hold:
    hold = Hold()
    monkeypatch.setattr(cars.main, "CarService", held_by(hold))
    return hold


# Function scope, alone in its module: the one instance consuming `cars.reserve` meanwhile.
@pytest.fixture
async def caller(
    hold: Hold,
    test_infra: TestInfra,
    person: Person,
) -> AsyncIterator[Caller]:
    """Cars, holding its reservations, and bookings, giving up on them after a second."""
    cars_app = create_cars_app(CarsSettings(**test_infra.env("cars_late")))
    settings = BookingsSettings(
        **test_infra.env("bookings_late", reserve_timeout_seconds=RESERVE_TIMEOUT)
    )
    async with serving(cars_app) as cars_url, serving(create_app(settings)) as bookings_url:
        yield Caller(person.calling(cars_url), person.calling(bookings_url))


async def test_a_reservation_taken_before_the_timeout_and_answered_after_it_strands_nothing(
    caller: Caller, hold: Hold
) -> None:
    car = await caller.cars.register_car()
    start, end = hours_from_now(1), hours_from_now(2)

    # Cars takes the command off its queue, then is held past bookings' timeout: bookings
    # gives up, releases (nothing is reserved yet) and drops the pending booking.
    answer = await caller.bookings.call(
        "POST", "/bookings", json=caller.bookings.trip(car.id, start, end)
    )
    answer.problem(503)
    assert hold.taken.is_set(), "cars took the reservation off its queue before bookings gave up"
    assert await caller.bookings.bookings(start, end) == []

    # Only now does the reservation go on, to its end.
    hold.go.set()
    reply = await asyncio.wait_for(hold.replies.get(), STEP)

    assert await caller.cars.unavailabilities(car.id) == [], "no reservation for no booking"
    # Refused as released; or as expired, had the release itself not been answered in time.
    assert reply.outcome in {ReservationOutcome.BOOKING_RELEASED, ReservationOutcome.EXPIRED}
    assert await caller.bookings.bookings(start, end) == []
