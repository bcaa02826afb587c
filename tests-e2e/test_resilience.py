"""Crashes and outages: events are never lost and never applied twice.

What bookings applied is counted from the writes MongoDB itself recorded to its projection of
cars (a change stream), not from anything the service writes: every registered car must be
projected by exactly one write, its insert.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from devstack.infra import ensure_rabbitmq
from devstack.system import System
from testkit.api import PlatformClient
from testkit.clock import hours_from_now
from testkit.fixtures import Stack
from testkit.mongo_writes import INSERTED_ONCE, WriteCounter

Databases = Callable[[str], AsyncDatabase[dict[str, Any]]]


async def register(client: PlatformClient, count: int) -> list[str]:
    cars = await asyncio.gather(
        *(
            client.register_car(make="Ford", model="Focus", year=2019, jurisdiction="GB")
            for _ in range(count)
        )
    )
    return [car.id for car in cars]


@dataclass(frozen=True)
class Projection:
    """Bookings' projection of the test tenant's cars, and the writes MongoDB recorded to it
    since the test began."""

    database: Databases
    tenant: str
    vhost: str
    writes: WriteCounter

    async def ids(self) -> set[str]:
        cars = self.database("bookings")["cars"]
        return {d["_id"] async for d in cars.find({"tenant_id": self.tenant}, {"_id": 1})}

    async def assert_applied_once(self, registered: list[str], timeout: float = 60.0) -> None:
        """Every registered car is projected, each by one write (an insert), and no other."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(await self.ids()) >= len(registered):
                break
            await asyncio.sleep(0.2)
        # Give late duplicates a chance to show up before counting.
        await asyncio.sleep(2.0)
        assert await self.ids() == set(registered), await self.diagnose(registered)
        counted = await self.writes.writes(registered)
        wrong = {car: writes for car, writes in counted.items() if writes != INSERTED_ONCE}
        assert not wrong, f"not written exactly once: {wrong}"

    async def diagnose(self, registered: list[str]) -> str:
        """Where missing events are: still in the producer's outbox, or in a queue."""
        projected = await self.ids()
        missing = [c for c in registered if c not in projected]
        pattern = {"body": {"$regex": "|".join(missing)}}
        outbox = self.database("cars")["outbox"]
        held = [d async for d in outbox.find(pattern, {"body": 0})] if missing else []
        queues = await asyncio.to_thread(
            subprocess.run,
            [
                "rabbitmqctl",
                "list_queues",
                "-p",
                self.vhost,
                "name",
                "messages_ready",
                "messages_unacknowledged",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        return f"missing={missing} outbox={held} queues={queues.stdout}"


@pytest.fixture
async def projection(database: Databases, tenant: str, stack: Stack) -> Projection:
    writes = await WriteCounter.start(database("bookings")["cars"])
    return Projection(database, tenant, stack.vhost, writes)


async def test_consumer_killed_mid_stream_applies_every_event_once(
    client: PlatformClient, system: System, projection: Projection
) -> None:
    registered: list[str] = []
    for batch in range(6):
        registered += await register(client, 20)
        if batch == 2:
            system.kill("bookings")
    await asyncio.to_thread(system.start, ["bookings"], 60)
    registered += await register(client, 20)

    assert len(registered) == 140
    await projection.assert_applied_once(registered)


async def test_producer_killed_with_events_in_its_outbox_still_delivers(
    client: PlatformClient,
    tenant: str,
    system: System,
    database: Databases,
    projection: Projection,
) -> None:
    registering = asyncio.ensure_future(register(client, 40))
    await asyncio.sleep(0.05)
    await asyncio.to_thread(system.kill, "cars")
    done = await asyncio.gather(registering, return_exceptions=True)
    await asyncio.to_thread(system.start, ["cars"], 60)
    # Whatever cars stored before dying is in its outbox, acknowledged or not: those cars.
    cars = database("cars")["cars"]
    stored = [d["_id"] async for d in cars.find({"tenant_id": tenant}, {"_id": 1})]
    assert stored or isinstance(done[0], BaseException)
    more = await register(client, 10)
    await projection.assert_applied_once(stored + more)


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


@pytest.mark.stops_rabbitmq
async def test_rabbitmq_down_outbox_holds_events_until_it_is_back(
    client: PlatformClient,
    database: Databases,
    projection: Projection,
    rabbitmq: RabbitOutage,
) -> None:
    before = await register(client, 5)
    await projection.assert_applied_once(before)
    trip = client.trip(before[0], hours_from_now(1), hours_from_now(2))

    await asyncio.to_thread(rabbitmq.stop)
    during = await register(client, 15)
    (await client.call("POST", "/bookings", json=trip)).problem(503)
    pending = await database("cars")["outbox"].count_documents({"status": "pending"})
    assert pending >= 15
    await asyncio.sleep(3)
    await asyncio.to_thread(rabbitmq.start)

    assert len(before + during) == 20
    await projection.assert_applied_once(before + during, timeout=90)
    deadline = time.monotonic() + 60
    status = 0
    while time.monotonic() < deadline:
        status = (await client.call("POST", "/bookings", json=trip)).status
        if status == 201:
            break
        await asyncio.sleep(0.5)
    assert status == 201, "bookings work again once RabbitMQ is back"
