"""Crashes and outages: events are never lost and never applied twice.

Each crash happens at a named fault point (`chassis.faults`): the service is restarted with
`FAULT_POINT` set, kills itself exactly inside the window under test, and is started again
without it. What happened is counted from sources the code under test does not write: the
writes MongoDB itself recorded to bookings' projection of cars (a change stream started before
the test acts, `testkit.mongo_writes`: applying an event inserts its car, a second application
would show as an update), RabbitMQ's count of the messages waiting in a queue, and a queue of
the test's own bound to the exchange, which receives every copy a relay publishes. What the
services recorded themselves (cars' outbox, bookings' inbox, their logs) is checked against
those.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from chassis.faults import FaultPoint
from chassis.storage.outbox import PENDING, SENT
from devstack.infra import ensure_rabbitmq
from devstack.system import System
from testkit.api import PlatformClient
from testkit.clock import hours_from_now
from testkit.fixtures import Stack
from testkit.identity import People, Person
from testkit.logs import log_runs, named
from testkit.mongo_writes import INSERTED_ONCE, WriteCounter, Writes
from testkit.rabbit import Rabbit
from testkit.waiting import eventually

Databases = Callable[[str], AsyncDatabase[dict[str, Any]]]

CAR_REGISTERED = "cars.car_registered"
CONSUMER_QUEUE = "bookings.car_registered"  # where bookings applies CAR_REGISTERED
OUTCOMES = ("event.handled", "event.duplicate_skipped")


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
async def owner(people: People, person: Person) -> Person:
    """The module's person, acting for a new organization of theirs: the test's tenant, whose
    cars are this test's alone."""
    [owner] = await people.organization(person)
    return owner


@pytest.fixture
def tenant(owner: Person) -> str:
    return owner.organization_id


@pytest.fixture
def client(owner: Person) -> PlatformClient:
    return owner.api


@pytest.fixture
async def projection(database: Databases, tenant: str, stack: Stack) -> Projection:
    writes = await WriteCounter.start(database("bookings")["cars"])
    return Projection(database, tenant, stack.vhost, writes)


@pytest.fixture
async def rabbit(stack: Stack) -> AsyncIterator[Rabbit]:
    async with Rabbit.connect(stack.amqp_url) as rabbit:
        yield rabbit


class Crashes:
    """Restarts services with a fault point armed and waits for them to die there; a service
    left armed by a test is started again without its fault point afterwards."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.armed: set[str] = set()

    async def arm(self, service: str, point: FaultPoint) -> None:
        await asyncio.to_thread(self.system.stop, [service])
        await asyncio.to_thread(self.system.start, [service], 60, env={"FAULT_POINT": point})
        self.armed.add(service)

    async def crashed(self, service: str, point: FaultPoint) -> None:
        """Wait until `service` has killed itself at `point`, and at no other."""
        code = await eventually(lambda: self.system.exited().get(service), timeout=30)
        assert code == -signal.SIGKILL, f"{service} exited with {code}, not by SIGKILL"
        [reached] = named(log_runs(self.system.log_path(service))[-1], "fault_point.reached")
        assert reached["point"] == point

    async def restart(self, service: str) -> None:
        """Start `service` again, without the fault point."""
        await asyncio.to_thread(self.system.start, [service], 60)
        self.armed.discard(service)

    def restore(self) -> None:
        for service in self.armed:
            self.system.kill(service)
            self.system.start([service], 60)


@pytest.fixture
def crashes(system: System) -> Iterator[Crashes]:
    crashes = Crashes(system)
    yield crashes
    crashes.restore()


async def nothing_in_flight(database: Databases, rabbit: Rabbit) -> None:
    """Wait until no event of an earlier test is still on its way to bookings, so that the
    crash under test happens on this test's events."""

    async def quiet() -> bool:
        pending = await database("cars")["outbox"].count_documents({"status": PENDING})
        waiting = [await rabbit.waiting(q) for q in (CONSUMER_QUEUE, "bookings.car_deleted")]
        return pending == 0 and waiting == [0, 0]

    await eventually(quiet, timeout=30, interval=0.2)


async def registration_events(database: Databases, cars: list[str]) -> dict[str, str]:
    """Car id -> the id of its `car_registered` event, from cars' outbox (what it published)."""
    outbox = database("cars")["outbox"]
    rows = outbox.find({"routing_key": CAR_REGISTERED, "body": {"$regex": "|".join(cars)}})
    events = {json.loads(row["body"])["data"]["car_id"]: row["_id"] async for row in rows}
    assert set(events) == set(cars), f"events for {sorted(events)}, not for every car {cars}"
    return events


async def in_inbox(database: Databases, events: Iterable[str]) -> set[str]:
    """The events bookings recorded as applied (committed), from its inbox."""
    inbox = database("bookings")["inbox"]
    query = {"consumer": CONSUMER_QUEUE, "event_id": {"$in": list(events)}}
    return {doc["event_id"] async for doc in inbox.find(query)}


def outcomes(system: System, events: Iterable[str], *, last_run: bool) -> dict[str, list[str]]:
    """Per event, what bookings logged on taking it from its queue: handled or skipped as a
    duplicate; from its last run only, or from every run."""
    runs = log_runs(system.log_path("bookings"))
    records = runs[-1] if last_run else [record for run in runs for record in run]
    found: dict[str, list[str]] = {event: [] for event in events}
    for record in records:
        event, outcome = record.get("message_id"), record.get("event")
        if event in found and outcome in OUTCOMES and record.get("queue") == CONSUMER_QUEUE:
            found[event].append(outcome)
    return found


async def until_logged(
    system: System, events: Iterable[str], *, each: int, last_run: bool
) -> dict[str, list[str]]:
    """`outcomes` once bookings has logged at least `each` for every one of `events`."""
    events = list(events)

    def enough() -> dict[str, list[str]] | None:
        found = outcomes(system, events, last_run=last_run)
        return found if all(len(seen) >= each for seen in found.values()) else None

    found: dict[str, list[str]] = await eventually(enough, timeout=30, interval=0.2)
    return found


async def test_consumer_killed_after_commit_before_ack_skips_the_redelivery_as_a_duplicate(
    client: PlatformClient,
    system: System,
    database: Databases,
    projection: Projection,
    rabbit: Rabbit,
    crashes: Crashes,
) -> None:
    await nothing_in_flight(database, rabbit)
    await crashes.arm("bookings", FaultPoint.AFTER_COMMIT_BEFORE_ACK)
    registered = await register(client, 10)
    await crashes.crashed("bookings", FaultPoint.AFTER_COMMIT_BEFORE_ACK)
    events = await registration_events(database, registered)

    # Nothing was acknowledged: RabbitMQ holds every event again, those committed included.
    async def all_waiting_again() -> bool:
        return await rabbit.waiting(CONSUMER_QUEUE) == len(events)

    await eventually(all_waiting_again, timeout=15)
    # Something was committed: the inbox records it, and MongoDB recorded the insert of those
    # cars, and of no other.
    committed = await in_inbox(database, events.values())
    assert committed, "bookings died before committing anything"
    writes = await projection.writes.writes(registered)
    assert writes == {
        car: INSERTED_ONCE if event in committed else Writes() for car, event in events.items()
    }

    await crashes.restart("bookings")
    # Back without the fault, bookings gets all ten again: those it committed it skips as
    # duplicates, the others it applies; each car is still written once, by its insert.
    logged = await until_logged(system, events.values(), each=1, last_run=True)
    assert {event for event, seen in logged.items() if seen == ["event.duplicate_skipped"]} == (
        committed
    )
    assert {event for event, seen in logged.items() if seen == ["event.handled"]} == (
        set(events.values()) - committed
    )
    assert await projection.writes.writes(registered) == dict.fromkeys(registered, INSERTED_ONCE)
    assert await in_inbox(database, events.values()) == set(events.values())
    assert await rabbit.waiting(CONSUMER_QUEUE) == 0


async def test_relay_killed_after_publishing_before_marking_publishes_again_and_it_applies_once(
    client: PlatformClient,
    system: System,
    database: Databases,
    projection: Projection,
    rabbit: Rabbit,
    crashes: Crashes,
) -> None:
    copies = await rabbit.tap("domain_events", CAR_REGISTERED)
    outbox = database("cars")["outbox"]
    await nothing_in_flight(database, rabbit)
    await crashes.arm("cars", FaultPoint.AFTER_PUBLISH_BEFORE_MARK)
    [car] = await register(client, 1)
    await crashes.crashed("cars", FaultPoint.AFTER_PUBLISH_BEFORE_MARK)
    [event] = (await registration_events(database, [car])).values()

    # The broker confirmed one copy; the outbox does not say so: still pending, leased by the
    # relay that died. Bookings applied that copy.
    await eventually(lambda: copies[event] == 1)
    row = await outbox.find_one({"_id": event})
    assert row is not None
    assert (row["status"], row["attempts"], "lease_until" in row) == (PENDING, 1, True)
    await until_logged(system, [event], each=1, last_run=False)

    await crashes.restart("cars")
    # Once the lease has run out, the restarted relay publishes it again and marks it sent...
    await eventually(lambda: copies[event] == 2, timeout=30)
    sent = await eventually(lambda: outbox.find_one({"_id": event, "status": SENT}), timeout=15)
    assert sent["attempts"] == 2
    # ...and bookings skips the second copy: the car is written once, by its insert.
    logged = await until_logged(system, [event], each=2, last_run=False)
    assert logged == {event: ["event.handled", "event.duplicate_skipped"]}
    assert await projection.writes.writes([car]) == {car: INSERTED_ONCE}
    assert await in_inbox(database, [event]) == {event}
    assert copies[event] == 2


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

    await projection.assert_applied_once(before + during, timeout=90)
    deadline = time.monotonic() + 60
    status = 0
    while time.monotonic() < deadline:
        status = (await client.call("POST", "/bookings", json=trip)).status
        if status == 201:
            break
        await asyncio.sleep(0.5)
    assert status == 201, "bookings work again once RabbitMQ is back"
