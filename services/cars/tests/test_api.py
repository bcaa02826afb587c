"""The cars HTTP API on the real MongoDB and RabbitMQ."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp

from chassis.service import Chassis
from contracts.cars import (
    RELEASE_CAR_QUEUE,
    RESERVE_CAR_QUEUE,
    ReleaseCar,
    ReservationOutcome,
    ReservationReply,
    ReserveCar,
)
from testkit.clock import hours_from_now

Auth = Callable[[str], dict[str, str]]


def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:8]}"


def plate() -> str:
    return uuid.uuid4().hex[:7].upper()


async def register(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    body = {
        "make": "Toyota",
        "model": "Prius",
        "year": 2021,
        "jurisdiction": "NZ",
        "number_plate": plate(),
        **overrides,
    }
    async with http.post(f"{url}/cars", json=body, headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        car: dict[str, Any] = await resp.json()
        return car


async def test_register_inspect_and_list(
    http: aiohttp.ClientSession, cars_url: str, auth: Auth
) -> None:
    me = auth(tenant())
    car = await register(http, cars_url, me, number_plate="abc  123")
    assert car["number_plate"] == "ABC 123"
    async with http.get(f"{cars_url}/cars/{car['id']}", headers=me) as resp:
        assert resp.status == 200
        assert (await resp.json())["id"] == car["id"]
    async with http.get(f"{cars_url}/cars", headers=me) as resp:
        assert [c["id"] for c in await resp.json()] == [car["id"]]


async def test_tenants_never_see_each_other(
    http: aiohttp.ClientSession, cars_url: str, auth: Auth
) -> None:
    mine, theirs = auth(tenant()), auth(tenant())
    car = await register(http, cars_url, mine)
    async with http.get(f"{cars_url}/cars/{car['id']}", headers=theirs) as resp:
        assert resp.status == 404
    async with http.get(f"{cars_url}/cars", headers=theirs) as resp:
        assert await resp.json() == []
    async with http.delete(f"{cars_url}/cars/{car['id']}", headers=theirs) as resp:
        assert resp.status == 404
    async with http.get(f"{cars_url}/cars/{car['id']}", headers=mine) as resp:
        assert resp.status == 200


async def test_duplicate_plate_is_a_conflict(
    http: aiohttp.ClientSession, cars_url: str, auth: Auth
) -> None:
    me = auth(tenant())
    car = await register(http, cars_url, me)
    body = {
        "make": "VW",
        "model": "Golf",
        "year": 2020,
        "jurisdiction": "NZ",
        "number_plate": car["number_plate"],
    }
    async with http.post(f"{cars_url}/cars", json=body, headers=me) as resp:
        assert resp.status == 409
        assert resp.content_type == "application/problem+json"


async def test_bad_input_is_a_problem_and_stores_nothing(
    http: aiohttp.ClientSession, cars_url: str, auth: Auth
) -> None:
    me = auth(tenant())
    good = {"make": "VW", "model": "Golf", "year": 2020, "jurisdiction": "NZ", "number_plate": "X1"}
    cases: list[tuple[Any, int]] = [
        (b"{not json", 400),
        ({**good, "year": "twenty"}, 422),
        ({**good, "year": 1800}, 422),
        ({**good, "jurisdiction": "1Z"}, 422),
        ({**good, "number_plate": "!!"}, 422),
        ({**good, "colour": "red"}, 422),
        ({"make": "VW"}, 422),
    ]
    for body, status in cases:
        kwargs: dict[str, Any] = (
            {"data": body, "headers": {**me, "Content-Type": "application/json"}}
            if isinstance(body, bytes)
            else {"json": body, "headers": me}
        )
        async with http.post(f"{cars_url}/cars", **kwargs) as resp:
            assert resp.status == status, (body, await resp.text())
            problem = await resp.json(content_type="application/problem+json")
            assert problem["status"] == status and problem["title"]
            if status == 422 and "year" in body and body["year"] == "twenty":
                assert problem["errors"][0]["field"] == "year"
    async with http.get(f"{cars_url}/cars", headers=me) as resp:
        assert await resp.json() == []


async def test_routes_need_a_valid_token(
    http: aiohttp.ClientSession, cars_url: str, token: Callable[..., str]
) -> None:
    async with http.get(f"{cars_url}/cars") as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    async with http.get(
        f"{cars_url}/cars", headers={"Authorization": f"Bearer {token(tenant_id=None)}"}
    ) as resp:
        assert resp.status == 403
    tampered = token(tenant_id="t")[:-4] + "AAAA"
    async with http.get(
        f"{cars_url}/cars", headers={"Authorization": f"Bearer {tampered}"}
    ) as resp:
        assert resp.status == 401


async def test_maintenance_offline_availability_and_unavailabilities(
    http: aiohttp.ClientSession, cars_url: str, auth: Auth
) -> None:
    me = auth(tenant())
    busy, free = await register(http, cars_url, me), await register(http, cars_url, me)
    frame = {"from_utc": hours_from_now(1), "to_utc": hours_from_now(3)}
    async with http.put(f"{cars_url}/cars/{busy['id']}/maintain", json=frame, headers=me) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["cause"] == "maintenance"
    overlapping = {"from_utc": hours_from_now(2), "to_utc": hours_from_now(4)}
    async with http.put(
        f"{cars_url}/cars/{busy['id']}/offline", json=overlapping, headers=me
    ) as resp:
        assert resp.status == 409
    later = {"from_utc": hours_from_now(3), "to_utc": hours_from_now(5)}
    async with http.put(f"{cars_url}/cars/{busy['id']}/offline", json=later, headers=me) as resp:
        assert resp.status == 200
    async with http.get(f"{cars_url}/cars/available", params=overlapping, headers=me) as resp:
        assert [c["id"] for c in await resp.json()] == [free["id"]]
    after = {"from_utc": hours_from_now(5), "to_utc": hours_from_now(6)}
    async with http.get(f"{cars_url}/cars/available", params=after, headers=me) as resp:
        assert {c["id"] for c in await resp.json()} == {busy["id"], free["id"]}
    async with http.get(f"{cars_url}/cars/{busy['id']}/unavailabilities", headers=me) as resp:
        assert [s["cause"] for s in await resp.json()] == ["maintenance", "offline"]


async def test_time_frames_are_validated(
    http: aiohttp.ClientSession, cars_url: str, auth: Auth
) -> None:
    me = auth(tenant())
    car = await register(http, cars_url, me)
    for frame in [
        {"from_utc": hours_from_now(3), "to_utc": hours_from_now(1)},
        {"from_utc": "2026-01-01T10:00:00", "to_utc": "2026-01-01T11:00:00"},
        {"from_utc": "2020-01-01T10:00:00Z", "to_utc": "2020-01-01T11:00:00Z"},
    ]:
        async with http.put(
            f"{cars_url}/cars/{car['id']}/maintain", json=frame, headers=me
        ) as resp:
            assert resp.status == 422, (frame, await resp.text())
    async with http.get(
        f"{cars_url}/cars/available", headers=me, params={"from_utc": hours_from_now(2)}
    ) as resp:
        assert resp.status == 422


async def test_concurrent_reservations_of_one_slot_only_one_wins(
    http: aiohttp.ClientSession, cars_url: str, cars_chassis: Chassis, auth: Auth
) -> None:
    owner = tenant()
    car = await register(http, cars_url, auth(owner))
    commands = [
        ReserveCar(
            tenant_id=owner,
            car_id=car["id"],
            booking_id=uuid.uuid4().hex,
            from_utc=hours_from_now(1),
            to_utc=hours_from_now(2),
        )  # type: ignore[arg-type]
        for _ in range(50)
    ]
    replies = await asyncio.gather(
        *(cars_chassis.commands.send(RESERVE_CAR_QUEUE, c, ReservationReply, 10) for c in commands)
    )
    outcomes = [r.outcome for r in replies]
    assert outcomes.count(ReservationOutcome.RESERVED) == 1
    assert outcomes.count(ReservationOutcome.UNAVAILABLE) == 49
    winner = commands[outcomes.index(ReservationOutcome.RESERVED)]
    again = await cars_chassis.commands.send(RESERVE_CAR_QUEUE, winner, ReservationReply, 10)
    assert again.outcome is ReservationOutcome.RESERVED
    async with http.delete(f"{cars_url}/cars/{car['id']}", headers=auth(owner)) as resp:
        assert resp.status == 409
    release = ReleaseCar(tenant_id=owner, car_id=car["id"], booking_id=winner.booking_id)
    for _ in range(2):
        reply = await cars_chassis.commands.send(RELEASE_CAR_QUEUE, release, ReservationReply, 10)
        assert reply.outcome is ReservationOutcome.RELEASED
    async with http.get(
        f"{cars_url}/cars/{car['id']}/unavailabilities", headers=auth(owner)
    ) as resp:
        assert await resp.json() == []
    async with http.delete(f"{cars_url}/cars/{car['id']}", headers=auth(owner)) as resp:
        assert resp.status == 204


async def test_reserving_an_unknown_car(cars_chassis: Chassis) -> None:
    command = ReserveCar(
        tenant_id="t",
        car_id="nope",
        booking_id=uuid.uuid4().hex,
        from_utc=hours_from_now(1),
        to_utc=hours_from_now(2),
    )  # type: ignore[arg-type]
    reply = await cars_chassis.commands.send(RESERVE_CAR_QUEUE, command, ReservationReply, 10)
    assert reply.outcome is ReservationOutcome.UNKNOWN_CAR
