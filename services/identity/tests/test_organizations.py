"""Organizations over HTTP on the real MongoDB and RabbitMQ: a shared one created, inspected
and joined; members only; marked provisioned when provisioning says so, once."""

from __future__ import annotations

import asyncio

from jose import jwt

from contracts import Envelope
from contracts.identity import OrganizationCreated
from contracts.provisioning import TenantProvisioned
from testkit.fixtures import EventProducer, TestInfra
from testkit.identity import People
from testkit.rabbit import Rabbit
from testkit.stored import Database
from testkit.waiting import eventually


async def test_a_shared_organization_and_its_members(
    people: People, database: Database, test_infra: TestInfra
) -> None:
    async with Rabbit.connect(test_infra.amqp_url) as rabbit:
        created = await rabbit.watch("domain_events", OrganizationCreated.event_type)
        founder = await people.person()
        answer = await founder.api.expect(
            201, "POST", "/organizations", json={"name": " Acme  Ltd "}
        )
        organization = answer.json()
        assert organization["name"] == "Acme Ltd" and organization["kind"] == "shared"
        org = f"/organizations/{organization['id']}"

        member = await people.person()
        outsider = await people.person()
        assert (await outsider.api.call("GET", org)).status == 404
        refused = await member.api.call(
            "POST", org + "/members", json={"user_id": outsider.user_id}
        )
        assert refused.status == 403, "only owners add members"
        await founder.api.expect(201, "POST", org + "/members", json={"user_id": member.user_id})
        again = await founder.api.call("POST", org + "/members", json={"user_id": member.user_id})
        assert again.status == 409
        nobody = await founder.api.call("POST", org + "/members", json={"user_id": "0" * 32})
        assert nobody.status == 422

        members = (await member.api.expect(200, "GET", org + "/members")).json()
        assert {(m["user_id"], tuple(m["roles"])) for m in members} == {
            (founder.user_id, ("billing_admin", "member", "owner")),
            (member.user_id, ("member",)),
        }
        assert (await outsider.api.call("GET", org + "/members")).status == 404

        # The member acts for the organization once they choose it.
        await member.api.expect(
            200,
            "PUT",
            "/users/me/default-organization",
            json={"organization_id": organization["id"]},
        )
        refreshed = await people.anonymous.expect(
            200, "POST", "/tokens/refresh", json={"refresh_token": member.tokens["refresh_token"]}
        )
        claims = jwt.get_unverified_claims(refreshed.json()["access_token"])
        assert claims["tenant_id"] == organization["id"] and claims["org_roles"] == ["member"]
        chosen = await outsider.api.call(
            "PUT", "/users/me/default-organization", json={"organization_id": organization["id"]}
        )
        assert chosen.status == 404

        def published() -> list[Envelope]:
            envelopes = [Envelope.model_validate_json(m.body) for m in created]
            return [e for e in envelopes if e.data["organization_id"] == organization["id"]]

        await eventually(published)
        await asyncio.sleep(0.3)
        [envelope] = published()
        assert envelope.tenant_id == organization["id"]
        assert envelope.data["created_by"] == founder.user_id


async def test_provisioned_once(
    people: People, database: Database, producer: EventProducer
) -> None:
    founder = await people.person()
    organization = (
        await founder.api.expect(201, "POST", "/organizations", json={"name": "Provisioned"})
    ).json()
    event = TenantProvisioned(organization_id=organization["id"])
    published = await producer.publish(event, tenant_id=organization["id"])
    await producer.resend(published)

    async def provisioned() -> bool:
        answer = await founder.api.expect(200, "GET", f"/organizations/{organization['id']}")
        return bool(answer.json()["provisioned"])

    await eventually(provisioned)
    stored = await database["organizations"].find_one({"_id": organization["id"]})
    assert stored is not None and stored["provisioned_at"] is not None
