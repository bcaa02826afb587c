"""The audit trail through the gateway: what a tenant's people did to cars and bookings is
read back by the tenant's owner, once each and under the correlation id of the request that
did it; another organization's owner reads none of it, and operators read all of it.

The trail holds identity's records of the people too (test_identity.py reads those): here only
the cars' and bookings' are compared."""

from __future__ import annotations

from testkit.api import AuditEntry, car_details
from testkit.clock import hours_from_now
from testkit.identity import People, Person
from testkit.waiting import eventually

CORRELATION = "X-Correlation-Id"
# (action, target, outcome, correlation id)
Seen = tuple[str, str, str, str]


async def test_a_tenants_owner_reads_what_was_done_once_each_and_nobody_else_does(
    people: People, person: Person, operator: Person
) -> None:
    founder, driver = await people.organization(person, await people.person())
    owner, tenant = founder.api, founder.organization_id
    registered = await owner.expect(201, "POST", "/cars", json=car_details())
    car = registered.json()["id"]
    trip = owner.trip(car, hours_from_now(1), hours_from_now(3))
    booked = await owner.expect(201, "POST", "/bookings", json=trip)
    booking = booked.json()["id"]
    refused = await owner.call("POST", "/bookings", json=trip)
    refused.problem(409)
    cancelled = await owner.expect(204, "DELETE", f"/bookings/{booking}")

    done: list[Seen] = [
        ("cars.car_registered", f"car:{car}", "succeeded", registered.headers[CORRELATION]),
        # Cars reserved the car for the booking, within the request that booked it.
        ("cars.car_reserved", f"car:{car}", "succeeded", booked.headers[CORRELATION]),
        ("bookings.booking_made", f"booking:{booking}", "succeeded", booked.headers[CORRELATION]),
        ("bookings.booking_refused", f"car:{car}", "refused", refused.headers[CORRELATION]),
        (
            "bookings.booking_cancelled",
            f"booking:{booking}",
            "succeeded",
            cancelled.headers[CORRELATION],
        ),
        ("cars.car_released", f"car:{car}", "succeeded", cancelled.headers[CORRELATION]),
    ]
    assert len({seen[3] for seen in done}) == 4, "one correlation id per request"

    def of_cars(entries: list[AuditEntry]) -> list[AuditEntry]:
        return [e for e in entries if e.action.startswith(("cars.", "bookings."))]

    def seen(entries: list[AuditEntry]) -> list[Seen]:
        return sorted((e.action, e.target, e.outcome, e.correlation_id) for e in of_cars(entries))

    async def all_recorded() -> list[AuditEntry] | None:
        entries = of_cars(await owner.audits())
        return entries if len(entries) >= len(done) else None

    entries = await eventually(all_recorded, timeout=15)
    assert seen(entries) == sorted(done)
    assert {e.organization_id for e in entries} == {tenant}
    # The booker did what the requests did; cars reserved and released for bookings.
    assert {e.actor_id for e in entries if e.action.startswith("bookings.")} == {founder.user_id}
    assert [e.occurred_at for e in entries] == sorted(
        (e.occurred_at for e in entries), reverse=True
    ), "newest first"

    # Another organization's owner, and a member of the tenant: nothing of it.
    outsider = await people.person()
    assert {e.organization_id for e in await outsider.api.audits()} <= {outsider.organization_id}
    named = await outsider.api.call("GET", "/audits", params={"organization_id": tenant})
    named.problem(403)
    (await driver.api.call("GET", "/audits")).problem(403)

    # Operators read any organization's trail.
    assert seen(await operator.api.audits(organization_id=tenant)) == sorted(done)
    # And, later still, nothing was kept twice.
    assert seen(await owner.audits()) == sorted(done)
