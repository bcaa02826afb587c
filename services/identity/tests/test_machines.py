"""Machines over HTTP on the real MongoDB and RabbitMQ: registered anonymously (an
organization of their own) or by a signed-in user (a member of theirs), each with an API key
that works at once; what is published of them."""

from __future__ import annotations

import asyncio

from jose import jwt

from contracts import Envelope
from contracts.identity import UserRegistered
from testkit.api import PlatformClient
from testkit.fixtures import TestInfra
from testkit.identity import People
from testkit.rabbit import Rabbit
from testkit.waiting import eventually


async def machine_api(anonymous: PlatformClient, api_key: str) -> PlatformClient:
    """The API as the machine calls it: with the token its key is exchanged for."""
    answer = await anonymous.expect(200, "POST", "/tokens/exchange", json={"api_key": api_key})
    return anonymous.as_caller(answer.json()["access_token"])


async def test_a_machine_registered_anonymously(people: People, test_infra: TestInfra) -> None:
    async with Rabbit.connect(test_infra.amqp_url) as rabbit:
        registered = await rabbit.watch("domain_events", UserRegistered.event_type)
        answer = await people.anonymous.expect(
            201, "POST", "/machines/register", json={"name": "  sensor-7 "}
        )
        machine = answer.json()
        assert machine["name"] == "sensor-7" and machine["api_key"].startswith("apk_")

        api = await machine_api(people.anonymous, machine["api_key"])
        me = (await api.expect(200, "GET", "/users/me")).json()
        assert me["id"] == machine["id"] and me["kind"] == "machine" and me["email"] is None
        assert me["default_organization_id"] == machine["organization_id"]
        assert me["memberships"] == [
            {
                "organization_id": machine["organization_id"],
                "roles": ["billing_admin", "member", "owner"],
            }
        ]
        organization = (
            await api.expect(200, "GET", f"/organizations/{machine['organization_id']}")
        ).json()
        assert organization["kind"] == "personal" and organization["name"] == "sensor-7"
        [key] = (await api.expect(200, "GET", "/apikeys")).json()
        assert key["id"] == machine["api_key_id"] and key["hint"] == machine["api_key"][-4:]

        def published() -> list[Envelope]:
            envelopes = [Envelope.model_validate_json(m.body) for m in registered]
            return [e for e in envelopes if e.data["user_id"] == machine["id"]]

        await eventually(published)
        await asyncio.sleep(0.3)
        [envelope] = published()
        assert envelope.data["kind"] == "machine" and envelope.data["first_name"] == "sensor-7"
        assert envelope.tenant_id == machine["organization_id"]
        assert envelope.actor_id == machine["id"]


async def test_a_machine_registered_by_a_signed_in_user(people: People) -> None:
    founder = await people.person()
    organization = (
        await founder.api.expect(201, "POST", "/organizations", json={"name": "Fleet"})
    ).json()
    await founder.api.expect(
        200, "PUT", "/users/me/default-organization", json={"organization_id": organization["id"]}
    )
    refreshed = await people.anonymous.expect(
        200, "POST", "/tokens/refresh", json={"refresh_token": founder.tokens["refresh_token"]}
    )
    acting = people.anonymous.as_caller(refreshed.json()["access_token"])

    machine = (
        await acting.expect(201, "POST", "/machines/register", json={"name": "loader"})
    ).json()
    assert machine["organization_id"] == organization["id"]
    members = (
        await founder.api.expect(200, "GET", f"/organizations/{organization['id']}/members")
    ).json()
    assert {(m["user_id"], tuple(m["roles"])) for m in members} == {
        (founder.user_id, ("billing_admin", "member", "owner")),
        (machine["id"], ("member",)),
    }
    api = await machine_api(people.anonymous, machine["api_key"])
    claims = jwt.get_unverified_claims(api.headers["Authorization"].split()[1])
    assert claims["kind"] == "machine" and claims["tenant_id"] == organization["id"]
    assert claims["org_roles"] == ["member"]
    # A member, not an owner: it cannot add others.
    outsider = await people.person()
    refused = await api.call(
        "POST",
        f"/organizations/{organization['id']}/members",
        json={"user_id": outsider.user_id},
    )
    refused.problem(403)

    # Signed in to their personal organization, a person's machine joins that one.
    own = (
        await founder.api.expect(201, "POST", "/machines/register", json={"name": "laptop"})
    ).json()
    assert own["organization_id"] == founder.organization_id
    own_members = (
        await founder.api.expect(200, "GET", f"/organizations/{founder.organization_id}/members")
    ).json()
    assert (own["id"], ["member"]) in [(m["user_id"], m["roles"]) for m in own_members]


async def test_a_machine_needs_a_name(people: People) -> None:
    for body in ({}, {"name": "   "}, {"name": "x" * 101}, {"name": "ok", "email": "a@b.c"}):
        answer = await people.anonymous.call("POST", "/machines/register", json=body)
        answer.problem(422)
