"""The car-sharing story through the gateway: fleet, maintenance, availability, bookings."""

from __future__ import annotations

from testkit.api import Car, PlatformClient, car_details
from testkit.clock import hours_from_now
from testkit.identity import People, Person


async def test_the_whole_story(people: People, person: Person, operator: Person) -> None:
    # The person's company: they own it, and a driver of theirs is a member.
    owner, driver = await people.organization(person, await people.person())
    client = owner.api
    fleet: list[Car] = []
    for make in ("Toyota", "Mazda", "Honda"):
        answer = await client.expect(201, "POST", "/cars", json=car_details(make=make))
        assert answer.headers["X-Request-Id"]
        fleet.append(answer.parse(Car))
    a, b, c = fleet

    assert [car.id for car in await client.cars()] == [a.id, b.id, c.id]
    other_tenant = (await people.person()).api
    assert await other_tenant.cars() == []
    (await other_tenant.call("GET", f"/cars/{a.id}")).problem(404)

    await client.maintain(a.id, hours_from_now(1), hours_from_now(4))
    await client.take_offline(b.id, hours_from_now(0), hours_from_now(2))

    window = hours_from_now(1), hours_from_now(3)
    assert [car.id for car in await client.available_cars(*window)] == [c.id]

    trip = client.trip(c.id, *window)
    booking = await client.book(c.id, *window)
    (await client.call("POST", "/bookings", json=trip)).problem(409)
    maintained = await client.call("POST", "/bookings", json={**trip, "car_id": a.id})
    maintained.problem(409)  # a car under maintenance cannot be booked

    assert await client.available_cars(*window) == []
    slots = await client.unavailabilities(c.id)
    assert [(s.cause, s.booking_id) for s in slots] == [("reservation", booking.id)]
    # A car with a future reservation cannot be deleted.
    (await client.call("DELETE", f"/cars/{c.id}")).problem(409)

    assert [(x.id, x.status) for x in await client.bookings(*window)] == [(booking.id, "confirmed")]
    # Only the booker (or operations) cancels.
    (await driver.api.call("DELETE", f"/bookings/{booking.id}")).problem(403)
    await client.cancel_booking(booking.id)
    assert await client.unavailabilities(c.id) == []
    assert [car.id for car in await client.available_cars(*window)] == [c.id]
    rebooked = await client.book(c.id, *window)  # cancelling freed the slot
    operations = await people.promote(operator, driver)
    await operations.api.cancel_booking(rebooked.id)

    await client.delete_car(b.id)
    (await client.call("GET", f"/cars/{b.id}")).problem(404)


async def test_health_aggregates_every_service(anonymous: PlatformClient) -> None:
    answer = await anonymous.expect(200, "GET", "/health")
    body = answer.body.decode()
    assert "cars" in body and "bookings" in body
