"""Bookings over HTTP, reserving through the real cars service over RabbitMQ."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bookings.domain import Booking
from bookings.repository import CARS, BookingRepository
from bookings.service import BookingService
from chassis.service import Chassis
from contracts.cars import RESERVE_CAR_QUEUE, ReservationOutcome, ReservationReply, ReserveCar
from testkit.clock import hours_from_now

Auth = Callable[..., dict[str, str]]


async def new_car(http: aiohttp.ClientSession, cars_url: str, headers: dict[str, str]) -> str:
    body = {
        "make": "Kia",
        "model": "Niro",
        "year": 2022,
        "jurisdiction": "AU",
        "number_plate": uuid.uuid4().hex[:6],
    }
    async with http.post(f"{cars_url}/cars", json=body, headers=headers) as resp:
        assert resp.status == 201
        car_id: str = (await resp.json())["id"]
        return car_id


def frame(start: float, end: float) -> dict[str, str]:
    return {"start_utc": hours_from_now(start), "end_utc": hours_from_now(end)}


async def test_book_conflict_cancel_and_rebook(
    http: aiohttp.ClientSession, services: tuple[str, str, Chassis], auth: Auth
) -> None:
    cars_url, url, chassis = services
    me = auth(f"t-{uuid.uuid4().hex[:6]}")
    car = await new_car(http, cars_url, me)
    # The booking answer shows the car as bookings learnt it from `car_registered`.
    projected = chassis.mongo.collection(CARS)
    for _ in range(100):
        if await projected.find_one({"_id": car}):
            break
        await asyncio.sleep(0.05)
    async with http.post(
        f"{url}/bookings", json={"car_id": car, **frame(1, 3)}, headers=me
    ) as resp:
        assert resp.status == 201, await resp.text()
        booking: dict[str, Any] = await resp.json()
        assert (booking["car"]["make"], booking["car"]["model"]) == ("Kia", "Niro")
    async with http.post(
        f"{url}/bookings", json={"car_id": car, **frame(2, 4)}, headers=me
    ) as resp:
        assert resp.status == 409
        assert resp.content_type == "application/problem+json"
    async with http.get(f"{cars_url}/cars/{car}/unavailabilities", headers=me) as resp:
        slots = await resp.json()
        assert [(s["cause"], s["booking_id"]) for s in slots] == [("reservation", booking["id"])]
    async with http.delete(f"{url}/bookings/{booking['id']}", headers=me) as resp:
        assert resp.status == 204
    async with http.get(f"{cars_url}/cars/{car}/unavailabilities", headers=me) as resp:
        assert await resp.json() == []
    async with http.post(
        f"{url}/bookings", json={"car_id": car, **frame(2, 4)}, headers=me
    ) as resp:
        assert resp.status == 201
    query = {"from_utc": hours_from_now(0), "to_utc": hours_from_now(5)}
    async with http.get(f"{url}/bookings", params=query, headers=me) as resp:
        found = await resp.json()
        assert [b["status"] for b in found] == ["cancelled", "confirmed"]
        assert found[1]["car"]["make"] == "Kia"


async def test_fifty_concurrent_bookings_one_wins(
    http: aiohttp.ClientSession, services: tuple[str, str, Chassis], auth: Auth
) -> None:
    cars_url, url, _ = services
    me = auth(f"t-{uuid.uuid4().hex[:6]}")
    car = await new_car(http, cars_url, me)

    async def attempt() -> int:
        async with http.post(
            f"{url}/bookings", json={"car_id": car, **frame(1, 2)}, headers=me
        ) as resp:
            return resp.status

    statuses = await asyncio.gather(*(attempt() for _ in range(50)))
    assert sorted(statuses) == [201] + [409] * 49


async def test_bad_bookings_are_refused_and_nothing_is_stored(
    http: aiohttp.ClientSession, services: tuple[str, str, Chassis], auth: Auth
) -> None:
    cars_url, url, _ = services
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    me = auth(tenant)
    car = await new_car(http, cars_url, me)
    cases: list[tuple[dict[str, Any], int]] = [
        ({"car_id": "no-such-car", **frame(1, 2)}, 422),
        ({"car_id": car, **frame(2, 1)}, 422),
        ({"car_id": car, **frame(1, 10)}, 422),
        (
            {"car_id": car, "start_utc": "2020-01-01T10:00:00Z", "end_utc": "2020-01-01T11:00:00Z"},
            422,
        ),
        ({"car_id": car, "start_utc": "tomorrow", "end_utc": hours_from_now(2)}, 422),
        ({"car_id": 7, **frame(1, 2)}, 422),
    ]
    for body, status in cases:
        async with http.post(f"{url}/bookings", json=body, headers=me) as resp:
            assert resp.status == status, (body, await resp.text())
    other_tenant = auth(f"t-{uuid.uuid4().hex[:6]}")
    async with http.post(
        f"{url}/bookings", json={"car_id": car, **frame(1, 2)}, headers=other_tenant
    ) as resp:
        assert resp.status == 422
    query = {"from_utc": hours_from_now(-24), "to_utc": hours_from_now(48)}
    async with http.get(f"{url}/bookings", params=query, headers=me) as resp:
        assert await resp.json() == []
    async with http.get(f"{cars_url}/cars/{car}/unavailabilities", headers=me) as resp:
        assert await resp.json() == []


async def test_only_the_booker_cancels(
    http: aiohttp.ClientSession, services: tuple[str, str, Chassis], auth: Auth
) -> None:
    cars_url, url, _ = services
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    car = await new_car(http, cars_url, auth(tenant))
    async with http.post(
        f"{url}/bookings", json={"car_id": car, **frame(1, 2)}, headers=auth(tenant, "alice")
    ) as resp:
        booking = await resp.json()
    async with http.delete(f"{url}/bookings/{booking['id']}", headers=auth(tenant, "bob")) as resp:
        assert resp.status == 403
    async with http.delete(
        f"{url}/bookings/{booking['id']}", headers=auth(f"t-{uuid.uuid4().hex[:6]}", "alice")
    ) as resp:
        assert resp.status == 404
    async with http.delete(
        f"{url}/bookings/{booking['id']}", headers=auth(tenant, "ops", ["standard", "operations"])
    ) as resp:
        assert resp.status == 204


async def test_car_events_reach_the_projection_once(
    http: aiohttp.ClientSession, services: tuple[str, str, Chassis], auth: Auth
) -> None:
    cars_url, _, bookings = services
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    cars = [await new_car(http, cars_url, auth(tenant)) for _ in range(5)]
    async with http.delete(f"{cars_url}/cars/{cars[0]}", headers=auth(tenant)) as resp:
        assert resp.status == 204
    projected = bookings.mongo.collection(CARS)
    live = {"tenant_id": tenant, "deleted_at": {"$exists": False}}
    for _ in range(100):
        docs = [d async for d in projected.find(live)]
        if sorted(d["_id"] for d in docs) == sorted(cars[1:]):
            break
        await asyncio.sleep(0.05)
    assert sorted(d["_id"] for d in docs) == sorted(cars[1:])
    assert {d["events_applied"] for d in docs} == {1}
    assert {d["make"] for d in docs} == {"Kia"}
    gone = await projected.find_one({"_id": cars[0]})
    assert gone is not None and gone["deleted_at"]


async def test_abandoned_pending_bookings_release_their_cars(
    http: aiohttp.ClientSession, services: tuple[str, str, Chassis], auth: Auth
) -> None:
    cars_url, url, chassis = services
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    car = await new_car(http, cars_url, auth(tenant))
    repo = BookingRepository(chassis.mongo)
    now = datetime.now(UTC)
    start = now.replace(microsecond=0) + timedelta(days=1)
    # What a crash between reserving and confirming leaves: a pending booking with a slot.
    stranded = Booking.request(tenant, "u1", car, start, start + timedelta(hours=1), now)
    await repo.add_pending(stranded)
    reserve = ReserveCar(
        tenant_id=tenant,
        car_id=car,
        booking_id=stranded.id,
        from_utc=stranded.start,
        to_utc=stranded.end,
    )
    reply = await chassis.commands.send(RESERVE_CAR_QUEUE, reserve, ReservationReply, 5)
    assert reply.outcome is ReservationOutcome.RESERVED

    on_time = BookingService(chassis.uow, repo, chassis.commands, 5.0, lambda: now)
    assert await on_time.release_abandoned() == 0
    later = BookingService(
        chassis.uow, repo, chassis.commands, 5.0, lambda: now + timedelta(minutes=5)
    )
    assert await later.release_abandoned() == 1

    async with http.get(f"{cars_url}/cars/{car}/unavailabilities", headers=auth(tenant)) as resp:
        assert await resp.json() == []
    assert await repo.pending_since_before(now + timedelta(minutes=5)) == []
    trip = {
        "car_id": car,
        "start_utc": stranded.start.isoformat(),
        "end_utc": stranded.end.isoformat(),
    }
    async with http.post(f"{url}/bookings", json=trip, headers=auth(tenant)) as resp:
        assert resp.status == 201
