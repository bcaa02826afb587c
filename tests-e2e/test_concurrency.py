"""Many people want the same car at the same time: exactly one gets it."""

from __future__ import annotations

import asyncio

import aiohttp

from testkit.clock import hours_from_now


async def test_fifty_concurrent_bookings_for_one_slot(
    http: aiohttp.ClientSession, gateway: str, headers: dict[str, str]
) -> None:
    car = {
        "make": "Tesla",
        "model": "3",
        "year": 2023,
        "jurisdiction": "AU",
        "number_plate": "RACE1",
    }
    async with http.post(f"{gateway}/cars", json=car, headers=headers) as resp:
        car_id = (await resp.json())["id"]
    trip = {"car_id": car_id, "start_utc": hours_from_now(2), "end_utc": hours_from_now(4)}

    async def book() -> int:
        async with http.post(f"{gateway}/bookings", json=trip, headers=headers) as resp:
            return resp.status

    statuses = await asyncio.gather(*(book() for _ in range(50)))
    assert statuses.count(201) == 1
    assert statuses.count(409) == 49
    window = {"from_utc": hours_from_now(0), "to_utc": hours_from_now(6)}
    async with http.get(f"{gateway}/bookings", params=window, headers=headers) as resp:
        assert len(await resp.json()) == 1
    async with http.get(f"{gateway}/cars/{car_id}/unavailabilities", headers=headers) as resp:
        assert len(await resp.json()) == 1
