"""The bookings repository on the real MongoDB: a booking is saved only over the version it
was read at, so a change made meanwhile (or a removal) is never overwritten."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bookings.domain import Booking, Status
from bookings.main import BookingsSettings
from bookings.repository import INDEXES, BookingChanged, MongoBookingsTransaction
from bookings.service import BookingsTransaction, integration_events
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import MongoUnitOfWork
from chassis.timeframe import TimeFrame
from testkit.fixtures import TestInfra

TENANT = "tenant-a"
UoW = MongoUnitOfWork[BookingsTransaction]


@pytest.fixture
async def uow(test_infra: TestInfra) -> AsyncIterator[UoW]:
    settings = BookingsSettings(**test_infra.env(f"bookings_repo_{uuid.uuid4().hex[:6]}"))
    mongo = Mongo.of(settings, INDEXES)
    await mongo.start()
    yield MongoUnitOfWork(mongo, MongoBookingsTransaction, integration_events)
    await mongo.stop()


async def recorded(uow: UoW) -> Booking:
    now = datetime.now(UTC).replace(microsecond=0)
    frame = TimeFrame(now + timedelta(hours=1), now + timedelta(hours=2))
    booking = Booking.request(TENANT, "u1", "car-1", frame, now)

    async def add(tx: BookingsTransaction) -> None:
        await tx.bookings.add(booking)

    await uow.run(add, tenant_id=TENANT)
    return booking


async def get(uow: UoW, booking_id: str, tenant: str = TENANT) -> Booking | None:
    async def read(tx: BookingsTransaction) -> Booking | None:
        return await tx.bookings.get(booking_id)

    return await uow.run(read, tenant_id=tenant)


async def save(uow: UoW, booking: Booking) -> None:
    async def write(tx: BookingsTransaction) -> None:
        await tx.bookings.save(booking)

    await uow.run(write, tenant_id=TENANT)


async def test_a_booking_is_saved_over_the_version_it_was_read_at(uow: UoW) -> None:
    booking = await recorded(uow)
    assert await get(uow, booking.id, tenant="tenant-b") is None

    first, second = await get(uow, booking.id), await get(uow, booking.id)
    assert first is not None and second is not None
    first.confirm()
    await save(uow, first)
    second.confirm()
    with pytest.raises(BookingChanged):
        await save(uow, second)

    stored = await get(uow, booking.id)
    assert stored is not None and (stored.status, stored.version) == (Status.CONFIRMED, 1)
    assert stored.frame == booking.frame and stored.created_at == booking.created_at


async def test_a_removed_booking_is_not_saved_back(uow: UoW) -> None:
    booking = await recorded(uow)

    async def remove(tx: BookingsTransaction) -> None:
        await tx.bookings.remove(booking)

    await uow.run(remove, tenant_id=TENANT)
    booking.confirm()
    with pytest.raises(BookingChanged):
        await save(uow, booking)
    assert await get(uow, booking.id) is None
