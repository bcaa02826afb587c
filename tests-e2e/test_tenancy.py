"""Tenant isolation through the gateway: on every route that takes a caller's token, a caller of
another tenant finds none of a tenant's cars, bookings and members, and changes none of them.

The routes are read from the gateway's merged `/openapi.json`: a route without a case below
fails `test_every_route_that_takes_a_token_has_a_case`. Each case runs on a new organization
(the tenant) whose member holds a car (with a maintenance slot and a booking), beside an
intruder acting for another new organization holding its own car and booking, as
`operations` (the role that may cancel anyone's booking), and checks the tenant's view through
the API before and after. The people are registered once for the module; the organizations
are new for each case.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from jose import jwt

from contracts.roles import PlatformRole
from testkit.api import Booking, Car, PlatformClient, Slot, car_details
from testkit.clock import hours_from_now
from testkit.identity import People, Person, new_email
from testkit.images import png
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


View = tuple[list[Car], list[list[Slot]], list[Booking], Any, Any, Any, Any, Any]


@dataclass(frozen=True)
class Scene:
    tenant: PlatformClient
    theirs: Holdings
    intruder: PlatformClient
    own: Holdings
    tenant_id: str
    # An owner of the intruder's tenant, who is no operator.
    outsider: PlatformClient
    # The member whose view is watched, and the intruder, as users.
    member_id: str
    intruder_id: str
    # The member's API key, and an invitation into the tenant, by their ids.
    member_key_id: str
    invitation_id: str
    # An image of the tenant's, uploaded by the member.
    image_id: str

    async def view(self) -> View:
        """All the tenant's member sees of its cars, their slots, its bookings, its members,
        themselves, their API keys, their profile and the tenant's image."""
        cars = await self.tenant.cars()
        slots = [await self.tenant.unavailabilities(car.id) for car in cars]
        members = await self.tenant.expect(200, "GET", f"/organizations/{self.tenant_id}/members")
        me = await self.tenant.expect(200, "GET", "/users/me")
        keys = await self.tenant.expect(200, "GET", "/apikeys")
        bookings = await self.tenant.bookings(*WHOLE)
        profile = await self.tenant.expect(200, "GET", "/profiles/me")
        image = await self.tenant.expect(200, "GET", f"/images/{self.image_id}")
        download = await self.tenant.expect(200, "GET", f"/images/{self.image_id}/download")
        return (
            cars,
            slots,
            bookings,
            members.json(),
            me.json(),
            keys.json(),
            profile.json(),
            (image.json(), download.body),
        )


async def absent(
    intruder: PlatformClient, method: str, path: str, theirs: str, status: int = 404, **kw: Any
) -> None:
    """The intruder's answer about the tenant's `theirs` is the one it gets about an id that
    exists nowhere (404 unless said): not even the wording tells them apart."""
    nowhere = uuid.uuid4().hex
    found = (await intruder.call(method, path.format(theirs), **kw)).problem(status)
    unknown = (await intruder.call(method, path.format(nowhere), **kw)).problem(status)
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
    asked = {"user_id": scene.member_id}
    (await scene.outsider.call("GET", "/flags/beta", params=asked)).problem(403)
    assert (await scene.outsider.flag("beta")).enabled is False


@case("GET", "/users/me")
async def _read_oneself(scene: Scene) -> None:
    me = (await scene.intruder.expect(200, "GET", "/users/me")).json()
    assert me["id"] == scene.intruder_id
    assert scene.tenant_id not in {m["organization_id"] for m in me["memberships"]}


@case("PUT", "/users/me/default-organization")
async def _act_for_the_tenant(scene: Scene) -> None:
    # Only an organization one is a member of: the tenant's is as unknown as none.
    theirs, nowhere = scene.tenant_id, uuid.uuid4().hex
    path = "/users/me/default-organization"
    found = await scene.intruder.call("PUT", path, json={"organization_id": theirs})
    unknown = await scene.intruder.call("PUT", path, json={"organization_id": nowhere})
    found_problem, unknown_problem = found.problem(404), unknown.problem(404)
    assert (found_problem.detail or "").replace(theirs, "?") == (
        unknown_problem.detail or ""
    ).replace(nowhere, "?")


@case("POST", "/users/{user_id}/roles/assign")
async def _give_the_tenants_member_a_role(scene: Scene) -> None:
    # Operators give anyone roles, by design; an owner of another tenant may not.
    roles = {"roles": [PlatformRole.OPERATIONS]}
    path = f"/users/{scene.member_id}/roles/assign"
    (await scene.outsider.call("POST", path, json=roles)).problem(403)


@case("POST", "/users/{user_id}/roles/unassign")
async def _take_a_role_from_the_tenants_member(scene: Scene) -> None:
    roles = {"roles": [PlatformRole.OPERATIONS]}
    path = f"/users/{scene.member_id}/roles/unassign"
    (await scene.outsider.call("POST", path, json=roles)).problem(403)


@case("POST", "/organizations")
async def _found_an_organization(scene: Scene) -> None:
    created = await scene.intruder.expect(201, "POST", "/organizations", json={"name": "Other"})
    assert created.json()["id"] != scene.tenant_id


@case("GET", "/organizations/{organization_id}")
async def _inspect_the_tenants_organization(scene: Scene) -> None:
    # Operators inspect any organization, by design; an owner of another may not.
    await absent(scene.outsider, "GET", "/organizations/{}", scene.tenant_id)


@case("POST", "/organizations/{organization_id}/members")
async def _join_the_tenants_organization(scene: Scene) -> None:
    body = {"json": {"user_id": scene.intruder_id}}
    for caller in (scene.outsider, scene.intruder):
        path = "/organizations/{}/members"
        await absent(caller, "POST", path, scene.tenant_id, status=403, **body)


@case("GET", "/organizations/{organization_id}/members")
async def _list_the_tenants_members(scene: Scene) -> None:
    await absent(scene.outsider, "GET", "/organizations/{}/members", scene.tenant_id)


@case("POST", "/signing-keys/rotate")
async def _rotate_the_signing_keys(scene: Scene) -> None:
    # Operators only; the platform's keys are no tenant's.
    (await scene.outsider.call("POST", "/signing-keys/rotate")).problem(403)


@case("POST", "/apikeys")
async def _create_an_api_key(scene: Scene) -> None:
    created = await scene.intruder.expect(201, "POST", "/apikeys", json={})
    exchanged = await scene.intruder.expect(
        200, "POST", "/tokens/exchange", json={"api_key": created.json()["api_key"]}
    )
    claims = jwt.get_unverified_claims(exchanged.json()["access_token"])
    assert claims["sub"] == scene.intruder_id and claims["tenant_id"] != scene.tenant_id


@case("GET", "/apikeys")
async def _list_api_keys(scene: Scene) -> None:
    keys = (await scene.intruder.expect(200, "GET", "/apikeys")).json()
    assert scene.member_key_id not in {key["id"] for key in keys}


@case("DELETE", "/apikeys/{key_id}")
async def _delete_the_members_api_key(scene: Scene) -> None:
    await absent(scene.intruder, "DELETE", "/apikeys/{}", scene.member_key_id)


@case("POST", "/apikeys/{key_id}/regenerate")
async def _regenerate_the_members_api_key(scene: Scene) -> None:
    await absent(scene.intruder, "POST", "/apikeys/{}/regenerate", scene.member_key_id)


@case("POST", "/invitations")
async def _invite_into_the_tenant(scene: Scene) -> None:
    # An invitation goes into the organization the caller acts for, never another's.
    guest = {"email": new_email("guest")}
    invited = await scene.outsider.call("POST", "/invitations", json=guest)
    if invited.status == 201:
        assert invited.json()["organization_id"] != scene.tenant_id
    else:
        invited.problem(403)


@case("POST", "/invitations/{invitation_id}/resend")
async def _resend_the_tenants_invitation(scene: Scene) -> None:
    for caller in (scene.outsider, scene.intruder):
        await absent(caller, "POST", "/invitations/{}/resend", scene.invitation_id)


@case("POST", "/images")
async def _upload_an_image(scene: Scene) -> None:
    # An image goes to the organization the caller acts for, never another's.
    uploaded = await scene.intruder.upload_image(png(), description="Not theirs")
    assert uploaded.organization_id != scene.tenant_id


@case("GET", "/images/{image_id}")
async def _inspect_an_image(scene: Scene) -> None:
    await absent(scene.intruder, "GET", "/images/{}", scene.image_id)
    await absent(scene.intruder, "GET", "/images/{}/download", scene.image_id)


@case("PATCH", "/images/{image_id}")
async def _describe_an_image(scene: Scene) -> None:
    body = {"description": "Defaced"}
    await absent(scene.intruder, "PATCH", "/images/{}", scene.image_id, json=body)


@case("DELETE", "/images/{image_id}")
async def _delete_an_image(scene: Scene) -> None:
    await absent(scene.intruder, "DELETE", "/images/{}", scene.image_id)


# Operators see and change anyone's profile, by design: the intruder's organization's owner,
# no operator, is the one refused.


@case("GET", "/profiles/me")
async def _read_ones_profile(scene: Scene) -> None:
    mine = (await scene.outsider.expect(200, "GET", "/profiles/me")).json()
    assert mine["user_id"] != scene.member_id
    assert mine["organization_id"] != scene.tenant_id


@case("GET", "/profiles/{user_id}")
async def _read_the_members_profile(scene: Scene) -> None:
    await absent(scene.outsider, "GET", "/profiles/{}", scene.member_id)


@case("PATCH", "/profiles/{user_id}")
async def _change_the_members_profile(scene: Scene) -> None:
    body = {"first_name": "Mallory"}
    await absent(scene.outsider, "PATCH", "/profiles/{}", scene.member_id, json=body)


@case("PATCH", "/profiles/{user_id}/contact")
async def _change_the_members_address(scene: Scene) -> None:
    body = {"line1": "1 Fake St", "city": "Nowhere", "country_code": "GB"}
    await absent(scene.outsider, "PATCH", "/profiles/{}/contact", scene.member_id, json=body)


@case("PUT", "/profiles/{user_id}/avatar")
async def _set_the_members_avatar(scene: Scene) -> None:
    outsider, theirs, nowhere = scene.outsider, scene.member_id, uuid.uuid4().hex
    found = await outsider.call(
        "PUT", f"/profiles/{theirs}/avatar", data=outsider.avatar_form(png())
    )
    unknown = await outsider.call(
        "PUT", f"/profiles/{nowhere}/avatar", data=outsider.avatar_form(png())
    )
    assert (found.problem(404).detail or "").replace(theirs, "?") == (
        unknown.problem(404).detail or ""
    ).replace(nowhere, "?")


@case("DELETE", "/profiles/{user_id}/avatar")
async def _remove_the_members_avatar(scene: Scene) -> None:
    await absent(scene.outsider, "DELETE", "/profiles/{}/avatar", scene.member_id)


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


@dataclass(frozen=True)
class Cast:
    """The module's people: the tenant's founder and member, the intruder (an operator) and
    the owner of the intruder's organization."""

    founder: Person
    member: Person
    intruder: Person
    outsider: Person


@pytest.fixture(scope="module")
async def cast(people: People, operator: Person) -> Cast:
    founder, member, intruder, outsider = [await people.person() for _ in range(4)]
    return Cast(founder, member, await people.promote(operator, intruder), outsider)


@pytest.fixture
async def scene(people: People, cast: Cast) -> Scene:
    founder, member = await people.organization(cast.founder, cast.member, name="Tenant")
    _, intruder = await people.organization(cast.outsider, cast.intruder, name="Intruders")
    tenant = member.api
    theirs = await Holdings.of(tenant, maintained=True)
    own = await Holdings.of(intruder.api, maintained=False)

    async def cars_projected() -> bool:
        # Until bookings has heard of a car, its bookings show no car: the view would change.
        bookings = await tenant.bookings(*WHOLE) + await intruder.api.bookings(*WHOLE)
        return all(b.car for b in bookings)

    await eventually(cars_projected)
    key = (await tenant.expect(201, "POST", "/apikeys", json={"description": "theirs"})).json()
    invitation = await founder.api.expect(
        201, "POST", "/invitations", json={"email": new_email("invited")}
    )
    image = await tenant.upload_image(png(), description="The tenant's")

    async def profile_settled() -> bool:
        # Until its default avatar has been looked for, the member's profile may change.
        answer = await tenant.call("GET", "/profiles/me")
        return answer.status == 200 and answer.json()["avatar_lookup"] == "done"

    await eventually(profile_settled, timeout=15)
    return Scene(
        tenant,
        theirs,
        intruder.api,
        own,
        member.organization_id,
        cast.outsider.api,
        member.user_id,
        intruder.user_id,
        key["id"],
        invitation.json()["id"],
        image.id,
    )


@pytest.mark.parametrize("route", sorted(CASES), ids=" ".join)
async def test_another_tenant_finds_nothing_and_changes_nothing(
    route: tuple[str, str], scene: Scene
) -> None:
    before = await scene.view()
    cars, slots, bookings, *_ = before
    assert [car.id for car in cars] == [scene.theirs.car.id]
    assert sorted(slot.cause for slot in slots[0]) == ["maintenance", "reservation"]
    assert [booking.id for booking in bookings] == [scene.theirs.booking.id]
    await CASES[route](scene)
    assert await scene.view() == before
