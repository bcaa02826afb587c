"""Crashes and outages: events are never lost and never applied twice.

These tests count what the bookings service applied by reading its database.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest

from devstack.infra import ensure_rabbitmq
from devstack.system import System
from testkit.clock import hours_from_now
from testkit.fixtures import Stack


async def register_cars(
    http: aiohttp.ClientSession, gateway: str, headers: dict[str, str], count: int
) -> list[str]:
    async def one() -> str:
        body = {
            "make": "Ford",
            "model": "Focus",
            "year": 2019,
            "jurisdiction": "GB",
            "number_plate": uuid.uuid4().hex[:7],
        }
        async with http.post(f"{gateway}/cars", json=body, headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            car_id: str = (await resp.json())["id"]
            return car_id

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def projected_once(
    database: Callable[[str], Any], tenant: str, expected: int, timeout: float = 60.0
) -> tuple[int, int]:
    """How many cars bookings projected for `tenant`, and how many car events it applied.

    `events_applied` is a plain `$inc` per event, so only the idempotent inbox keeps a
    redelivered event from counting twice.
    """
    cars = database("bookings")["cars"]

    async def count() -> tuple[int, int]:
        docs = await asyncio.to_thread(
            lambda: list(cars.find({"tenant_id": tenant}, {"events_applied": 1}))
        )
        return len(docs), sum(d["events_applied"] for d in docs)

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (await count())[0] < expected:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    # Give late duplicates a chance to show up before counting.
    await asyncio.sleep(2.0)
    return await count()


def diagnose(database: Callable[[str], Any], vhost: str, registered: list[str], tenant: str) -> str:
    """Where missing events are: still in the producer's outbox, or in a queue."""
    projected = {d["_id"] for d in database("bookings")["cars"].find({"tenant_id": tenant})}
    missing = [c for c in registered if c not in projected]
    pattern = {"body": {"$regex": "|".join(missing)}}
    outbox = list(database("cars")["outbox"].find(pattern, {"body": 0})) if missing else []
    queues = subprocess.run(
        [
            "rabbitmqctl",
            "list_queues",
            "-p",
            vhost,
            "name",
            "messages_ready",
            "messages_unacknowledged",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return f"missing={missing} outbox={outbox} queues={queues}"


async def test_consumer_killed_mid_stream_applies_every_event_once(
    http: aiohttp.ClientSession,
    gateway: str,
    headers: dict[str, str],
    tenant: str,
    system: System,
    database: Callable[[str], Any],
    stack: Stack,
) -> None:
    registered: list[str] = []
    for batch in range(6):
        registered += await register_cars(http, gateway, headers, 20)
        if batch == 2:
            system.kill("bookings")
    await asyncio.to_thread(system.start, ["bookings"], 60)
    registered += await register_cars(http, gateway, headers, 20)

    assert len(registered) == 140
    counted = await projected_once(database, tenant, 140)
    assert counted == (140, 140), await asyncio.to_thread(
        diagnose, database, stack.vhost, registered, tenant
    )


async def test_producer_killed_with_events_in_its_outbox_still_delivers(
    http: aiohttp.ClientSession,
    gateway: str,
    headers: dict[str, str],
    tenant: str,
    system: System,
    database: Callable[[str], Any],
) -> None:
    registering = asyncio.ensure_future(register_cars(http, gateway, headers, 40))
    await asyncio.sleep(0.05)
    await asyncio.to_thread(system.kill, "cars")
    done = await asyncio.gather(registering, return_exceptions=True)
    await asyncio.to_thread(system.start, ["cars"], 60)
    # Whatever cars acknowledged before dying is in its outbox; count what it stored.
    stored = await asyncio.to_thread(
        database("cars")["cars"].count_documents, {"tenant_id": tenant}
    )
    assert stored > 0 or isinstance(done[0], BaseException)
    more = await register_cars(http, gateway, headers, 10)
    total = stored + len(more)
    assert await projected_once(database, tenant, total) == (total, total)


class RabbitOutage:
    """Stops and starts the RabbitMQ application (the node stays up, as in a broker restart)."""

    def __init__(self) -> None:
        self.stopped = False

    def stop(self) -> None:
        subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True)
        self.stopped = True

    def start(self) -> None:
        subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True)
        ensure_rabbitmq()
        self.stopped = False


@pytest.fixture
def rabbitmq() -> Iterator[RabbitOutage]:
    outage = RabbitOutage()
    yield outage
    if outage.stopped:
        outage.start()


async def test_rabbitmq_down_outbox_holds_events_until_it_is_back(
    http: aiohttp.ClientSession,
    gateway: str,
    headers: dict[str, str],
    tenant: str,
    database: Callable[[str], Any],
    rabbitmq: RabbitOutage,
) -> None:
    before = await register_cars(http, gateway, headers, 5)
    assert await projected_once(database, tenant, 5) == (5, 5)
    trip = {"car_id": before[0], "start_utc": hours_from_now(1), "end_utc": hours_from_now(2)}

    await asyncio.to_thread(rabbitmq.stop)
    during = await register_cars(http, gateway, headers, 15)
    async with http.post(f"{gateway}/bookings", json=trip, headers=headers) as resp:
        assert resp.status == 503, await resp.text()
    outbox = database("cars")["outbox"]
    pending = await asyncio.to_thread(outbox.count_documents, {"status": "pending"})
    assert pending >= 15
    await asyncio.sleep(3)
    await asyncio.to_thread(rabbitmq.start)

    assert await projected_once(database, tenant, 20, timeout=90) == (20, 20)
    assert len(before + during) == 20
    deadline = time.monotonic() + 60
    status = 0
    while time.monotonic() < deadline:
        async with http.post(f"{gateway}/bookings", json=trip, headers=headers) as resp:
            status = resp.status
        if status == 201:
            break
        await asyncio.sleep(0.5)
    assert status == 201, "bookings work again once RabbitMQ is back"
