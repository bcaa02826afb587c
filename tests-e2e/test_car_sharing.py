"""The car-sharing story through the gateway: fleet, maintenance, availability, bookings."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp

from testkit.clock import hours_from_now


async def register(
    http: aiohttp.ClientSession, gateway: str, headers: dict[str, str], make: str = "Toyota"
) -> dict[str, Any]:
    body = {
        "make": make,
        "model": "Corolla",
        "year": 2022,
        "jurisdiction": "NZ",
        "number_plate": uuid.uuid4().hex[:6],
    }
    async with http.post(f"{gateway}/cars", json=body, headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        assert resp.headers["X-Request-Id"]
        car: dict[str, Any] = await resp.json()
        return car


async def test_the_whole_story(
    http: aiohttp.ClientSession, gateway: str, headers: dict[str, str]
) -> None:
    a = await register(http, gateway, headers, "Toyota")
    b = await register(http, gateway, headers, "Mazda")
    c = await register(http, gateway, headers, "Honda")

    async with http.get(f"{gateway}/cars", headers=headers) as resp:
        assert [car["id"] for car in await resp.json()] == [a["id"], b["id"], c["id"]]

    maintenance = {"from_utc": hours_from_now(1), "to_utc": hours_from_now(4)}
    async with http.put(
        f"{gateway}/cars/{a['id']}/maintain", json=maintenance, headers=headers
    ) as resp:
        assert resp.status == 200, await resp.text()
    offline = {"from_utc": hours_from_now(0), "to_utc": hours_from_now(2)}
    async with http.put(f"{gateway}/cars/{b['id']}/offline", json=offline, headers=headers) as resp:
        assert resp.status == 200

    window = {"from_utc": hours_from_now(1), "to_utc": hours_from_now(3)}
    async with http.get(f"{gateway}/cars/available", params=window, headers=headers) as resp:
        assert [car["id"] for car in await resp.json()] == [c["id"]]

    trip = {"car_id": c["id"], "start_utc": hours_from_now(1), "end_utc": hours_from_now(3)}
    async with http.post(f"{gateway}/bookings", json=trip, headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        booking = await resp.json()
    async with http.post(f"{gateway}/bookings", json=trip, headers=headers) as resp:
        assert resp.status == 409
        problem = await resp.json(content_type="application/problem+json")
        assert problem["status"] == 409
    async with http.post(
        f"{gateway}/bookings", json={**trip, "car_id": a["id"]}, headers=headers
    ) as resp:
        assert resp.status == 409, "a car under maintenance cannot be booked"

    async with http.get(f"{gateway}/cars/available", params=window, headers=headers) as resp:
        assert await resp.json() == []
    async with http.get(f"{gateway}/cars/{c['id']}/unavailabilities", headers=headers) as resp:
        slots = await resp.json()
        assert [(s["cause"], s["booking_id"]) for s in slots] == [("reservation", booking["id"])]
    async with http.delete(f"{gateway}/cars/{c['id']}", headers=headers) as resp:
        assert resp.status == 409, "a car with a future reservation cannot be deleted"

    async with http.get(f"{gateway}/bookings", params=window, headers=headers) as resp:
        assert [(x["id"], x["status"]) for x in await resp.json()] == [(booking["id"], "confirmed")]
    async with http.delete(f"{gateway}/bookings/{booking['id']}", headers=headers) as resp:
        assert resp.status == 204
    async with http.get(f"{gateway}/cars/{c['id']}/unavailabilities", headers=headers) as resp:
        assert await resp.json() == []
    async with http.get(f"{gateway}/cars/available", params=window, headers=headers) as resp:
        assert [car["id"] for car in await resp.json()] == [c["id"]]
    async with http.post(f"{gateway}/bookings", json=trip, headers=headers) as resp:
        assert resp.status == 201, "cancelling freed the slot"

    async with http.delete(f"{gateway}/cars/{b['id']}", headers=headers) as resp:
        assert resp.status == 204
    async with http.get(f"{gateway}/cars/{b['id']}", headers=headers) as resp:
        assert resp.status == 404


async def test_health_aggregates_every_service(http: aiohttp.ClientSession, gateway: str) -> None:
    async with http.get(f"{gateway}/health") as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.text()
        assert "cars" in body and "bookings" in body
