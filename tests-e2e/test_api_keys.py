"""API keys and machines through the gateway: a key, sent as `X-API-Key` or as a bearer token,
acts for its owner's organization; once deleted or replaced, and the gateway's cached exchange
is stale, it is refused and changes nothing; a machine calls with the key it registered with,
for its own organization or for the one of the member who registered it."""

from __future__ import annotations

import asyncio

import pytest

from devstack.services import GATEWAY
from devstack.system import System
from testkit.api import PlatformClient, car_details
from testkit.identity import People, Person


@pytest.fixture(scope="module")
async def team(people: People, person: Person) -> list[Person]:
    """The module's person and another, members of a shared organization both act for."""
    return await people.organization(person, await people.person(), name="Keyed")


@pytest.fixture(scope="module")
def cache_seconds(system: System) -> float:
    """How long the gateway reuses a key's exchange: the most a deleted key may still work."""
    return float(system.env_for(GATEWAY)["API_KEY_CACHE_SECONDS"])


async def new_key(owner: Person, description: str) -> dict[str, str]:
    created = await owner.api.expect(201, "POST", "/apikeys", json={"description": description})
    return dict(created.json())


async def test_an_api_key_acts_for_its_owners_organization(
    team: list[Person], anonymous: PlatformClient
) -> None:
    owner, member = team
    key = await new_key(owner, "fleet sync")
    assert key["api_key"].startswith("apk_")
    listed = await owner.api.expect(200, "GET", "/apikeys")
    assert key["id"] in {k["id"] for k in listed.json()}
    assert key["api_key"].encode() not in listed.body, "the secret is shown once"

    in_header, as_bearer = (
        anonymous.with_api_key(key["api_key"]),
        anonymous.as_caller(key["api_key"]),
    )
    for caller in (in_header, as_bearer):
        me = (await caller.expect(200, "GET", "/users/me")).json()
        assert me["id"] == owner.user_id
    registered = [await in_header.register_car(), await as_bearer.register_car()]
    # The organization's other member sees them: the cars are the organization's.
    ids = {car.id for car in registered}
    assert ids <= {car.id for car in await member.api.cars()}
    assert ids <= {car.id for car in await in_header.cars()}


async def test_a_deleted_or_replaced_key_is_refused_once_the_gateways_cache_is_stale(
    team: list[Person], anonymous: PlatformClient, cache_seconds: float
) -> None:
    owner, _ = team
    deleted, replaced = await new_key(owner, "leaked"), await new_key(owner, "rotated")
    for key in (deleted, replaced):
        await anonymous.with_api_key(key["api_key"]).expect(200, "GET", "/cars")

    await owner.api.expect(204, "DELETE", f"/apikeys/{deleted['id']}")
    path = f"/apikeys/{replaced['id']}/regenerate"
    regenerated = (await owner.api.expect(200, "POST", path)).json()
    assert regenerated["id"] == replaced["id"] and regenerated["api_key"] != replaced["api_key"]
    await asyncio.sleep(cache_seconds + 0.2)

    for stale in (deleted["api_key"], replaced["api_key"]):
        for caller in (anonymous.with_api_key(stale), anonymous.as_caller(stale)):
            (await caller.call("GET", "/cars")).problem(401)
    fresh = anonymous.with_api_key(regenerated["api_key"])
    assert (await fresh.expect(200, "GET", "/users/me")).json()["id"] == owner.user_id


async def test_a_deleted_key_changes_nothing(
    team: list[Person], anonymous: PlatformClient, cache_seconds: float
) -> None:
    owner, member = team
    key = await new_key(owner, "revoked")
    intruder = anonymous.with_api_key(key["api_key"])
    await intruder.register_car()
    await owner.api.expect(204, "DELETE", f"/apikeys/{key['id']}")
    await asyncio.sleep(cache_seconds + 0.2)

    before = await member.api.cars()
    for caller in (intruder, anonymous.as_caller(key["api_key"])):
        (await caller.call("POST", "/cars", json=car_details())).problem(401)
    assert await member.api.cars() == before


async def test_a_machine_registered_anonymously_calls_with_its_key(
    anonymous: PlatformClient,
) -> None:
    body = {"name": "sensor-7"}
    machine = (await anonymous.expect(201, "POST", "/machines/register", json=body)).json()
    caller = anonymous.with_api_key(machine["api_key"])
    me = (await caller.expect(200, "GET", "/users/me")).json()
    assert (me["id"], me["kind"], me["default_organization_id"]) == (
        machine["id"],
        "machine",
        machine["organization_id"],
    )
    car = await caller.register_car()
    # Its organization is its own: its car is all it sees.
    assert [c.id for c in await anonymous.as_caller(machine["api_key"]).cars()] == [car.id]


async def test_a_machine_a_member_registers_joins_and_acts_for_their_organization(
    team: list[Person], anonymous: PlatformClient
) -> None:
    owner, member = team
    body = {"name": "kiosk"}
    machine = (await member.api.expect(201, "POST", "/machines/register", json=body)).json()
    organization = owner.organization_id
    assert machine["organization_id"] == organization
    members = await owner.api.expect(200, "GET", f"/organizations/{organization}/members")
    roles = {m["user_id"]: m["roles"] for m in members.json()}
    assert roles[machine["id"]] == ["member"]

    car = await anonymous.with_api_key(machine["api_key"]).register_car()
    assert car.id in {c.id for c in await owner.api.cars()}
