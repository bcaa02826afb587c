"""Fixtures of the bookings tests: the use cases on an in-memory unit of work with a stand-in
for the cars service (no MongoDB, no RabbitMQ), and the services themselves on the real ones."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

import pytest

from bookings.domain import Booking, KnownCar, Status
from bookings.main import BookingsSettings, create_app
from bookings.repository import BookingChanged
from bookings.service import (
    BookingService,
    BookingsTransaction,
    CarsNotAnswering,
    integration_events,
)
from cars.main import CarsSettings
from cars.main import create_app as create_cars_app
from chassis.storage.unit_of_work import Recording
from contracts.cars import ReservationOutcome, ReservationReply, ReservedCar
from testkit.api import PlatformClient
from testkit.fixtures import TestInfra
from testkit.identity import Person
from testkit.memory import InMemoryUnitOfWork
from testkit.web import serving

RESERVE_TIMEOUT = 5.0

# --- in memory --------------------------------------------------------------------------------


@dataclass
class Ledger:
    bookings: dict[str, Booking] = field(default_factory=dict)
    # car id -> (the car, when projected), or None once deleted
    cars: dict[str, tuple[KnownCar | None, datetime]] = field(default_factory=dict)


class InMemoryBookings:
    def __init__(self, ledger: Ledger, recording: Recording) -> None:
        self._ledger = ledger
        self._recording = recording

    async def add(self, booking: Booking) -> None:
        self._ledger.bookings[booking.id] = booking
        self._recording.track(booking)

    async def get(self, booking_id: str) -> Booking | None:
        booking = self._ledger.bookings.get(booking_id)
        if booking is None or booking.tenant_id != self._recording.tenant:
            return None
        self._recording.track(booking)
        return booking

    async def save(self, booking: Booking) -> None:
        stored = self._ledger.bookings.get(booking.id)
        if stored is None or stored.version != booking.version:
            raise BookingChanged(f"booking {booking.id} changed meanwhile")
        self._ledger.bookings[booking.id] = replace(booking, version=booking.version + 1)
        self._recording.track(booking)

    async def remove(self, booking: Booking) -> None:
        del self._ledger.bookings[booking.id]


class InMemoryKnownCars:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    async def registered(self, car: KnownCar, at: datetime) -> None:
        if self._ledger.cars.get(car.id, (car, at))[0] is not None:
            self._ledger.cars[car.id] = (car, at)

    async def deleted(self, car_id: str, at: datetime) -> None:
        self._ledger.cars[car_id] = (None, at)


class InMemoryBookingsTransaction:
    def __init__(self, ledger: Ledger, recording: Recording) -> None:
        self.bookings = InMemoryBookings(ledger, recording)
        self.known_cars = InMemoryKnownCars(ledger)


class CarsStandIn:
    """The cars service as the booking use cases reach it, told how to answer."""

    def __init__(self) -> None:
        self.reply = ReservationReply(
            outcome=ReservationOutcome.RESERVED,
            car=ReservedCar(make="Tesla", model="Model 3", number_plate="AB-123"),
        )
        self.answers_reserve = True
        self.answers_release = True
        self.reserved: list[str] = []
        self.released: list[str] = []
        # Run while the reservation is on its way (a sweep, a crash...).
        self.meanwhile: Callable[[Booking], Awaitable[None]] | None = None

    async def reserve(self, booking: Booking) -> ReservationReply:
        if self.meanwhile is not None:
            await self.meanwhile(booking)
        if not self.answers_reserve:
            raise CarsNotAnswering("no reply from cars.reserve within 5s")
        self.reserved.append(booking.id)
        return self.reply

    async def release(self, booking: Booking) -> None:
        if not self.answers_release:
            raise CarsNotAnswering("no reply from cars.release within 5s")
        self.released.append(booking.id)


BookingsUoW = InMemoryUnitOfWork[Ledger, BookingsTransaction]


@pytest.fixture
def uow() -> BookingsUoW:
    return InMemoryUnitOfWork(Ledger(), InMemoryBookingsTransaction, integration_events)


@pytest.fixture
def cars() -> CarsStandIn:
    return CarsStandIn()


@pytest.fixture
def clock(now: datetime) -> list[datetime]:
    """The use cases' clock: set `clock[0]` to move it."""
    return [now]


@pytest.fixture
def bookings(uow: BookingsUoW, cars: CarsStandIn, clock: list[datetime]) -> BookingService:
    async def pending(before: datetime) -> list[Booking]:
        return [
            b
            for b in uow.state.bookings.values()
            if b.status is Status.PENDING and b.created_at < before
        ]

    return BookingService(uow, cars, pending, RESERVE_TIMEOUT, clock=lambda: clock[0])


# --- on MongoDB and RabbitMQ ------------------------------------------------------------------


@dataclass(frozen=True)
class Services:
    cars_url: str
    bookings_url: str
    bookings_settings: BookingsSettings


# Module scope: its cars instance consumes the one `cars.reserve` queue, so left running it
# would answer other tests' commands from its own database.
@pytest.fixture(scope="module")
async def services(test_infra: TestInfra) -> AsyncIterator[Services]:
    """Cars and bookings, each with its own database, on the real broker."""
    settings = BookingsSettings(**test_infra.env("bookings"))
    cars_app = create_cars_app(CarsSettings(**test_infra.env("cars_b")))
    async with serving(cars_app) as cars_url, serving(create_app(settings)) as bookings_url:
        yield Services(cars_url, bookings_url, settings)


@dataclass(frozen=True)
class Caller:
    """One caller of both services (each straight, as there is no gateway here)."""

    cars: PlatformClient
    bookings: PlatformClient

    @classmethod
    def of(cls, person: Person, services: Services) -> Caller:
        """`person`, with the tokens they hold now (acting for their organization then)."""
        return cls(person.calling(services.cars_url), person.calling(services.bookings_url))
