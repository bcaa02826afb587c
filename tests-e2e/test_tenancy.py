"""Tenant isolation through the gateway: on every route that takes a caller's token, a caller of
another tenant finds none of a tenant's cars and bookings, and changes none of them.

The routes are read from the gateway's merged `/openapi.json`: a route without a case below
fails `test_every_route_that_takes_a_token_has_a_case`. Each case runs on a tenant holding a
car (with a maintenance slot and a booking), beside an intruder of another tenant holding its
own car and booking, as `operations` (the role that may cancel anyone's booking), and checks
the tenant's view through the API before and after.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from contracts.roles import OrganizationRole, PlatformRole
from testkit.api import Booking, Car, PlatformClient, Slot, car_details
from testkit.clock import hours_from_now
from testkit.waiting import eventually

# Both tenants' bookings and slots lie within WHOLE; nothing of either tenant's lies in FREE.
WHOLE = hours_from_now(0), hours_from_now(12)
BOOKED = hours_from_now(1), hours_from_now(3)
MAINTAINED = hours_from_now(4), hours_from_now(6)
FREE = hours_from_now(8), hours_from_now(9)


@dataclass(frozen=True)
class Holdings:
    car: Car
    booking: Booking

    @classmethod
    async def of(cls, client: PlatformClient, maintained: bool) -> Holdings:
        car = await client.register_car()
        if maintained:
            await client.maintain(car.id, *MAINTAINED)
        booking = await client.book(car.id, *BOOKED)
        return cls(car, booking)


View = tuple[list[Car], list[list[Slot]], list[Booking]]


@dataclass(frozen=True)
class Scene:
    tenant: PlatformClient
    theirs: Holdings
    intruder: PlatformClient
    own: Holdings
    tenant_id: str
    # An owner of the intruder's tenant, who is no operator.
    outsider: PlatformClient

    async def view(self) -> View:
        """All the tenant sees of its cars, their slots and its bookings."""
        cars = await self.tenant.cars()
        slots = [await self.tenant.unavailabilities(car.id) for car in cars]
        return cars, slots, await self.tenant.bookings(*WHOLE)


async def absent(intruder: PlatformClient, method: str, path: str, theirs: str, **kw: Any) -> None:
    """The intruder's answer about the tenant's `theirs` is the 404 it gets about an id that
    exists nowhere: not even the wording tells them apart."""
    nowhere = uuid.uuid4().hex
    found = (await intruder.call(method, path.format(theirs), **kw)).problem(404)
    unknown = (await intruder.call(method, path.format(nowhere), **kw)).problem(404)
    assert (found.title, (found.detail or "").replace(theirs, "?")) == (
        unknown.title,
        (unknown.detail or "").replace(nowhere, "?"),
    )


Case = Callable[[Scene], Awaitable[None]]
CASES: dict[tuple[str, str], Case] = {}


def case(method: str, path: str) -> Callable[[Case], Case]:
    def register(check: Case) -> Case:
        CASES[(method, path)] = check
        return check

    return register


@case("POST", "/cars")
async def _register_a_car(scene: Scene) -> None:
    # Plates are unique per tenant: the tenant's plate is free in another.
    taken = scene.theirs.car
    body = car_details(jurisdiction=taken.jurisdiction, number_plate=taken.number_plate)
    answer = await scene.intruder.expect(201, "POST", "/cars", json=body)
    assert answer.parse(Car).id != taken.id


@case("GET", "/cars")
async def _list_cars(scene: Scene) -> None:
    assert [car.id for car in await scene.intruder.cars()] == [scene.own.car.id]


@case("GET", "/cars/available")
async def _list_available_cars(scene: Scene) -> None:
    assert [car.id for car in await scene.intruder.available_cars(*FREE)] == [scene.own.car.id]


@case("GET", "/cars/{car_id}")
async def _inspect_a_car(scene: Scene) -> None:
    await absent(scene.intruder, "GET", "/cars/{}", scene.theirs.car.id)


@case("DELETE", "/cars/{car_id}")
async def _delete_a_car(scene: Scene) -> None:
    await absent(scene.intruder, "DELETE", "/cars/{}", scene.theirs.car.id)


@case("PUT", "/cars/{car_id}/maintain")
async def _maintain_a_car(scene: Scene) -> None:
    frame = {"from_utc": FREE[0], "to_utc": FREE[1]}
    await absent(scene.intruder, "PUT", "/cars/{}/maintain", scene.theirs.car.id, json=frame)


@case("PUT", "/cars/{car_id}/offline")
async def _take_a_car_offline(scene: Scene) -> None:
    frame = {"from_utc": FREE[0], "to_utc": FREE[1]}
    await absent(scene.intruder, "PUT", "/cars/{}/offline", scene.theirs.car.id, json=frame)


@case("GET", "/cars/{car_id}/unavailabilities")
async def _list_a_cars_slots(scene: Scene) -> None:
    await absent(scene.intruder, "GET", "/cars/{}/unavailabilities", scene.theirs.car.id)


@case("POST", "/bookings")
async def _book_a_car(scene: Scene) -> None:
    # The car is named in the body: refused as a car that exists nowhere is (422).
    theirs, nowhere = scene.theirs.car.id, uuid.uuid4().hex
    intruder = scene.intruder
    found = await intruder.call("POST", "/bookings", json=intruder.trip(theirs, *FREE))
    unknown = await intruder.call("POST", "/bookings", json=intruder.trip(nowhere, *FREE))
    assert found.problem(422).detail == (unknown.problem(422).detail or "").replace(nowhere, theirs)


@case("DELETE", "/bookings/{booking_id}")
async def _cancel_a_booking(scene: Scene) -> None:
    await absent(scene.intruder, "DELETE", "/bookings/{}", scene.theirs.booking.id)


@case("GET", "/bookings")
async def _list_bookings(scene: Scene) -> None:
    assert [b.id for b in await scene.intruder.bookings(*WHOLE)] == [scene.own.booking.id]


@case("GET", "/audits")
async def _read_the_audit_trail(scene: Scene) -> None:
    # The intruder, an operator, may read any trail; its organization's owner may not.
    owner = scene.outsider
    own = f"booking:{scene.own.booking.id}"

    async def own_entries() -> set[str] | None:
        targets = {entry.target for entry in await owner.audits()}
        return targets if own in targets else None

    targets = await eventually(own_entries)
    assert not targets & {f"car:{scene.theirs.car.id}", f"booking:{scene.theirs.booking.id}"}
    named = await owner.call("GET", "/audits", params={"organization_id": scene.tenant_id})
    named.problem(403)


@case("GET", "/emails")
async def _list_emails(scene: Scene) -> None:
    # Operators (the intruder is one) read every organization's emails by design, and owners
    # only their own organization's (tests-e2e/test_emails.py); a member reads none.
    (await scene.tenant.call("GET", "/emails")).problem(403)
    named = await scene.outsider.call("GET", "/emails", params={"organization_id": scene.tenant_id})
    named.problem(403)


@case("GET", "/tenants/{tenant_id}")
async def _read_a_tenants_provisioning_record(scene: Scene) -> None:
    # Another tenant's owner is refused alike whether the tenant exists or not.
    theirs = (await scene.outsider.call("GET", f"/tenants/{scene.tenant_id}")).problem(403)
    nowhere = (await scene.outsider.call("GET", f"/tenants/{uuid.uuid4().hex}")).problem(403)
    assert (theirs.title, theirs.detail) == (nowhere.title, nowhere.detail)


@case("GET", "/flags")
async def _list_flags(scene: Scene) -> None:
    # Decided for the caller alone: none of the tenant's callers' answers shows.
    flags = await scene.intruder.flags()
    assert [f.name for f in flags] == ["beta", "dark", "ten-percent"]
    assert flags == [await scene.intruder.flag(f.name) for f in flags]


@case("GET", "/flags/{name}")
async def _read_a_flag(scene: Scene) -> None:
    # Only an operator may ask for another user; an owner of another tenant may not.
    (await scene.outsider.call("GET", "/flags/beta", params={"user_id": "driver-1"})).problem(403)
    assert (await scene.outsider.flag("beta")).enabled is False


async def test_every_route_that_takes_a_token_has_a_case(anonymous: PlatformClient) -> None:
    openapi = (await anonymous.expect(200, "GET", "/openapi.json")).json()
    assert "x-unavailable" not in openapi
    routes = {
        (method.upper(), path)
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        if operation.get("security")
    }
    assert routes == set(CASES)


@pytest.fixture
async def scene(caller: Callable[..., PlatformClient], tenant: str) -> Scene:
    owner = caller(user_id="driver-1")
    intruder_tenant = f"{tenant}-other"
    intruder = caller(
        tenant_id=intruder_tenant,
        user_id="intruder",
        roles=[PlatformRole.STANDARD, PlatformRole.OPERATIONS],
    )
    theirs = await Holdings.of(owner, maintained=True)
    own = await Holdings.of(intruder, maintained=False)

    async def cars_projected() -> bool:
        # Until bookings has heard of a car, its bookings show no car: the view would change.
        return all(b.car for b in await owner.bookings(*WHOLE) + await intruder.bookings(*WHOLE))

    await eventually(cars_projected)
    outsider = caller(
        tenant_id=f"{tenant}-other", user_id="outsider", org_roles=[OrganizationRole.OWNER]
    )
    return Scene(owner, theirs, intruder, own, tenant, outsider)


@pytest.mark.parametrize("route", sorted(CASES), ids=" ".join)
async def test_another_tenant_finds_nothing_and_changes_nothing(
    route: tuple[str, str], scene: Scene
) -> None:
    before = await scene.view()
    cars, slots, bookings = before
    assert [car.id for car in cars] == [scene.theirs.car.id]
    assert sorted(slot.cause for slot in slots[0]) == ["maintenance", "reservation"]
    assert [booking.id for booking in bookings] == [scene.theirs.booking.id]
    await CASES[route](scene)
    assert await scene.view() == before
