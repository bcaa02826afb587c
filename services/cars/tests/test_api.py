"""The cars service on the real MongoDB and RabbitMQ, over HTTP and its command queues."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from chassis.messaging.commands import CommandBus
from contracts.bookings import BookingCancelled
from contracts.cars import ReleaseCar, ReleaseOutcome, ReservationOutcome, ReserveCar
from testkit.api import PlatformClient, car_details
from testkit.clock import hours_from_now
from testkit.fixtures import EventProducer
from testkit.identity import Person
from testkit.stored import Database, stored_for
from testkit.waiting import eventually

# `person`: a new person, in an organization (tenant) of their own with no cars yet;
# `someone`: a person the module's tests share, for tests that look only at their own cars.


async def test_register_inspect_and_list(person: Person, cars_url: str) -> None:
    me = person.calling(cars_url)
    car = await me.register_car(number_plate="abc  123")
    assert car.number_plate == "ABC 123"
    assert (await me.car(car.id)) == car
    assert [c.id for c in await me.cars()] == [car.id]


async def test_tenants_never_see_each_other(someone: Person, person: Person, cars_url: str) -> None:
    mine, theirs = someone.calling(cars_url), person.calling(cars_url)
    car = await mine.register_car()
    (await theirs.call("GET", f"/cars/{car.id}")).problem(404)
    assert await theirs.cars() == []
    (await theirs.call("DELETE", f"/cars/{car.id}")).problem(404)
    (await theirs.call("GET", f"/cars/{car.id}/unavailabilities")).problem(404)
    assert (await mine.car(car.id)).id == car.id


async def test_duplicate_plate_is_a_conflict(someone: Person, cars_url: str) -> None:
    me = someone.calling(cars_url)
    car = await me.register_car()
    again = car_details(make="VW", model="Golf", number_plate=car.number_plate)
    (await me.call("POST", "/cars", json=again)).problem(409)


async def test_bad_input_is_a_problem_and_stores_nothing(
    person: Person, cars_url: str, cars_database: Database
) -> None:
    me = person.calling(cars_url)
    good = car_details(make="VW", model="Golf", year=2020, number_plate="X1")
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
        if isinstance(body, bytes):
            answer = await me.call(
                "POST", "/cars", data=body, headers={"Content-Type": "application/json"}
            )
        else:
            answer = await me.call("POST", "/cars", json=body)
        problem = answer.problem(status)
        if status == 422 and body.get("year") == "twenty":
            assert problem.errors and problem.errors[0].field == "year"
    assert await stored_for(cars_database, person.organization_id) == {}


async def test_routes_need_a_valid_token(someone: Person, cars_url: str) -> None:
    anonymous = someone.calling(cars_url).as_caller(None)
    answer = await anonymous.call("GET", "/cars")
    answer.problem(401)
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    # Every token identity issues names a tenant; the chassis' tests refuse one that does not.
    tampered = anonymous.as_caller(someone.access_token[:-4] + "AAAA")
    (await tampered.call("GET", "/cars")).problem(401)


async def test_maintenance_offline_availability_and_unavailabilities(
    person: Person, cars_url: str
) -> None:
    me = person.calling(cars_url)
    busy, free = await me.register_car(), await me.register_car()
    slot = await me.maintain(busy.id, hours_from_now(1), hours_from_now(3))
    assert slot.cause == "maintenance"
    overlapping = {"from_utc": hours_from_now(2), "to_utc": hours_from_now(4)}
    (await me.call("PUT", f"/cars/{busy.id}/offline", json=overlapping)).problem(409)
    await me.take_offline(busy.id, hours_from_now(3), hours_from_now(5))
    assert [c.id for c in await me.available_cars(**overlapping)] == [free.id]
    after = await me.available_cars(hours_from_now(5), hours_from_now(6))
    assert {c.id for c in after} == {busy.id, free.id}
    assert [s.cause for s in await me.unavailabilities(busy.id)] == ["maintenance", "offline"]


async def test_time_frames_are_validated(someone: Person, cars_url: str) -> None:
    me = someone.calling(cars_url)
    car = await me.register_car()
    for frame in [
        {"from_utc": hours_from_now(3), "to_utc": hours_from_now(1)},
        {"from_utc": "2026-01-01T10:00:00", "to_utc": "2026-01-01T11:00:00"},
        {"from_utc": "2020-01-01T10:00:00Z", "to_utc": "2020-01-01T11:00:00Z"},
    ]:
        (await me.call("PUT", f"/cars/{car.id}/maintain", json=frame)).problem(422)
    partial = {"from_utc": hours_from_now(2)}
    (await me.call("GET", "/cars/available", params=partial)).problem(422)


async def test_only_a_car_id_is_taken_for_one(someone: Person, cars_url: str) -> None:
    me = someone.calling(cars_url)
    # Not "delete the car with id `available`": that path has GET alone.
    refused = await me.call("DELETE", "/cars/available")
    refused.problem(405)
    assert refused.headers["Allow"] == "GET,HEAD"
    (await me.call("GET", "/cars/C0FFEE")).problem(404)


async def test_paging_is_bounded_before_it_reaches_mongodb(someone: Person, cars_url: str) -> None:
    me = someone.calling(cars_url)
    car = await me.register_car()
    window = {"from_utc": hours_from_now(1), "to_utc": hours_from_now(2)}
    for path, params in [
        ("/cars", {}),
        ("/cars/available", window),
        (f"/cars/{car.id}/unavailabilities", {}),
    ]:
        for page in ({"offset": "9223372036854775808"}, {"offset": "10001"}, {"limit": "501"}):
            answer = await me.call("GET", path, params={**params, **page})
            errors = answer.problem(422).errors
            assert errors and errors[0].field in page, (path, page)
        await me.expect(200, "GET", path, params={**params, "offset": "10000", "limit": "500"})


async def test_frames_at_the_ends_of_the_calendar_are_refused(
    someone: Person, cars_url: str
) -> None:
    me = someone.calling(cars_url)
    car = await me.register_car()
    for frame in [
        {"from_utc": "0001-01-01T00:00:00+01:00", "to_utc": "0001-01-02T00:00:00Z"},
        {"from_utc": "9999-12-31T20:00:00Z", "to_utc": "9999-12-31T23:00:00-05:00"},
    ]:
        (await me.call("GET", "/cars/available", params=frame)).problem(422)
        (await me.call("PUT", f"/cars/{car.id}/maintain", json=frame)).problem(422)


async def test_concurrent_reservations_of_one_slot_only_one_wins(
    someone: Person, cars_url: str, commands: CommandBus
) -> None:
    owner = someone.organization_id
    me = someone.calling(cars_url)
    car = await me.register_car()
    reservations = [
        ReserveCar(
            tenant_id=owner,
            car_id=car.id,
            booking_id=uuid.uuid4().hex,
            from_utc=hours_from_now(1),  # type: ignore[arg-type]
            to_utc=hours_from_now(2),  # type: ignore[arg-type]
        )
        for _ in range(50)
    ]
    replies = await asyncio.gather(*(commands.send(r, 10) for r in reservations))
    outcomes = [r.outcome for r in replies]
    assert outcomes.count(ReservationOutcome.RESERVED) == 1
    assert outcomes.count(ReservationOutcome.UNAVAILABLE) == 49
    winner = reservations[outcomes.index(ReservationOutcome.RESERVED)]
    again = await commands.send(winner, 10)
    assert again.outcome is ReservationOutcome.RESERVED
    (await me.call("DELETE", f"/cars/{car.id}")).problem(409)

    release = ReleaseCar(tenant_id=owner, car_id=car.id, booking_id=winner.booking_id)
    assert (await commands.send(release, 10)).outcome is ReleaseOutcome.RELEASED
    assert (await commands.send(release, 10)).outcome is ReleaseOutcome.NOT_RESERVED
    assert await me.unavailabilities(car.id) == []
    await me.delete_car(car.id)


async def test_reserving_an_unknown_car(commands: CommandBus) -> None:
    command = ReserveCar(
        tenant_id="t",
        car_id="nope",
        booking_id=uuid.uuid4().hex,
        from_utc=hours_from_now(1),  # type: ignore[arg-type]
        to_utc=hours_from_now(2),  # type: ignore[arg-type]
    )
    assert (await commands.send(command, 10)).outcome is ReservationOutcome.UNKNOWN_CAR


async def test_a_cancelled_booking_heard_on_the_bus_frees_its_car(
    someone: Person, cars_url: str, commands: CommandBus, producer: EventProducer
) -> None:
    owner = someone.organization_id
    me = someone.calling(cars_url)
    car = await me.register_car()
    booking = uuid.uuid4().hex
    reserve = ReserveCar(
        tenant_id=owner,
        car_id=car.id,
        booking_id=booking,
        from_utc=hours_from_now(1),  # type: ignore[arg-type]
        to_utc=hours_from_now(2),  # type: ignore[arg-type]
    )
    assert (await commands.send(reserve, 10)).outcome is ReservationOutcome.RESERVED
    # As bookings publishes it when the release command was lost.
    cancelled = BookingCancelled(booking_id=booking, car_id=car.id)
    await producer.publish(cancelled, tenant_id=owner, actor_id=someone.user_id)
    await eventually(lambda: _no_slots(me, car.id))


async def _no_slots(me: PlatformClient, car_id: str) -> bool:
    return await me.unavailabilities(car_id) == []
