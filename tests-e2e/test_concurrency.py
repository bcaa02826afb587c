"""Many people want the same car at the same time: exactly one gets it."""

from __future__ import annotations

import asyncio

from bookings.repository import BOOKINGS
from testkit.api import Booking, PlatformClient
from testkit.clock import hours_from_now
from testkit.stored import Databases


async def test_fifty_concurrent_bookings_for_one_slot(
    client: PlatformClient, database: Databases, tenant: str
) -> None:
    car = await client.register_car(make="Tesla", model="3", year=2023, jurisdiction="AU")
    trip = client.trip(car.id, hours_from_now(2), hours_from_now(4))

    answers = await asyncio.gather(
        *(client.call("POST", "/bookings", json=trip) for _ in range(50))
    )
    statuses = [answer.status for answer in answers]
    assert statuses.count(201) == 1
    assert statuses.count(409) == 49
    for answer in answers:
        if answer.status == 409:
            answer.problem(409)
    won = next(answer for answer in answers if answer.status == 201).parse(Booking)
    booked = await client.bookings(hours_from_now(0), hours_from_now(6))
    assert [booking.id for booking in booked] == [won.id]
    # Each loser's booking was stored pending before cars said no; none is left behind.
    stored = database("bookings")[BOOKINGS].find({"tenant_id": tenant}, {"_id": 1})
    assert [doc["_id"] async for doc in stored] == [won.id]
    slots = await client.unavailabilities(car.id)
    assert [slot.booking_id for slot in slots] == [won.id]
