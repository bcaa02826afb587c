"""API keys over HTTP on the real MongoDB and RabbitMQ: shown once, listed without their
secret, exchanged for short-lived access tokens, deleted and regenerated (the old secret
refused from then on), expiring; nobody else's to touch; what is published of them."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from jose import jwt

from contracts import Envelope
from contracts.audits import AuditRecorded
from contracts.identity import ApiKeyCreated, ApiKeyDeleted
from testkit.api import Answer, PlatformClient
from testkit.fixtures import TestInfra
from testkit.identity import People, Person
from testkit.rabbit import Rabbit
from testkit.stored import Database
from testkit.waiting import eventually


async def create_key(person: Person, **body: Any) -> dict[str, Any]:
    return (await person.api.expect(201, "POST", "/apikeys", json=body)).json()


async def exchange(anonymous: PlatformClient, api_key: str) -> Answer:
    return await anonymous.call("POST", "/tokens/exchange", json={"api_key": api_key})


async def exchanged_token(anonymous: PlatformClient, api_key: str) -> str:
    answer = await exchange(anonymous, api_key)
    assert answer.status == 200, answer.body
    return str(answer.json()["access_token"])


def in_future(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def test_an_expiry_is_kept_as_stored(people: People) -> None:
    """To the millisecond in UTC, as MongoDB keeps it: the answer reads as the list later."""
    person = await people.person()
    day = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    issued = await create_key(person, expires_utc=f"{day}T12:00:00.123456+02:00")
    assert issued["expires_utc"] == f"{day}T10:00:00.123000Z"
    [listed] = (await person.api.expect(200, "GET", "/apikeys")).json()
    assert listed["expires_utc"] == issued["expires_utc"]


async def test_a_key_is_shown_once_and_exchanged_for_a_token(
    people: People, database: Database
) -> None:
    person = await people.person()
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    issued = await create_key(
        person, description="  nightly   export ", expires_utc=expires.isoformat()
    )
    secret = issued["api_key"]
    assert secret.startswith("apk_") and len(secret) > 40
    assert issued["description"] == "nightly export" and issued["hint"] == secret[-4:]
    assert datetime.fromisoformat(issued["expires_utc"]) == expires

    [listed] = (await person.api.expect(200, "GET", "/apikeys")).json()
    assert listed == {k: v for k, v in issued.items() if k != "api_key"}
    stored = await database["api_keys"].find_one({"_id": issued["id"]})
    assert stored is not None and stored["digest"] == hashlib.sha256(secret.encode()).hexdigest()

    before = datetime.now(UTC).replace(microsecond=0)
    answer = await exchange(people.anonymous, secret)
    assert answer.status == 200, answer.body
    token = answer.json()
    assert set(token) == {"access_token", "expires_utc"}
    expires_at = datetime.fromisoformat(token["expires_utc"])
    assert before + timedelta(minutes=5) <= expires_at <= before + timedelta(minutes=5, seconds=2)
    claims = jwt.get_unverified_claims(token["access_token"])
    assert claims["sub"] == person.user_id and claims["tenant_id"] == person.organization_id
    assert claims["kind"] == "person" and claims["org_roles"] == [
        "billing_admin",
        "member",
        "owner",
    ]

    me = await people.anonymous.as_caller(token["access_token"]).expect(200, "GET", "/users/me")
    assert me.json()["id"] == person.user_id


async def test_a_deleted_key_is_refused(people: People) -> None:
    person = await people.person()
    issued = await create_key(person)
    await exchanged_token(people.anonymous, issued["api_key"])

    await person.api.expect(204, "DELETE", f"/apikeys/{issued['id']}")
    (await exchange(people.anonymous, issued["api_key"])).problem(401)
    assert (await person.api.expect(200, "GET", "/apikeys")).json() == []
    (await person.api.call("DELETE", f"/apikeys/{issued['id']}")).problem(404)
    (await person.api.call("POST", f"/apikeys/{issued['id']}/regenerate")).problem(404)


async def test_a_regenerated_key_refuses_its_old_secret(people: People) -> None:
    person = await people.person()
    issued = await create_key(person, description="ci", expires_utc=in_future(days=3))
    old = issued["api_key"]
    await exchanged_token(people.anonymous, old)

    answer = await person.api.expect(200, "POST", f"/apikeys/{issued['id']}/regenerate")
    renewed = answer.json()
    new = renewed["api_key"]
    assert new.startswith("apk_") and new != old and renewed["hint"] == new[-4:]
    assert {k: renewed[k] for k in ("id", "description", "expires_utc", "created_at")} == {
        k: issued[k] for k in ("id", "description", "expires_utc", "created_at")
    }
    assert renewed["regenerated_at"] is not None

    (await exchange(people.anonymous, old)).problem(401)
    token = await exchanged_token(people.anonymous, new)
    me = await people.anonymous.as_caller(token).expect(200, "GET", "/users/me")
    assert me.json()["id"] == person.user_id
    [listed] = (await person.api.expect(200, "GET", "/apikeys")).json()
    assert listed["hint"] == new[-4:] and "api_key" not in listed


async def test_someone_elses_keys_are_out_of_reach(people: People) -> None:
    owner, other = await people.person(), await people.person()
    issued = await create_key(owner)
    key = f"/apikeys/{issued['id']}"

    assert (await other.api.expect(200, "GET", "/apikeys")).json() == []
    (await other.api.call("DELETE", key)).problem(404)
    (await other.api.call("POST", key + "/regenerate")).problem(404)
    (await people.anonymous.call("GET", "/apikeys")).problem(401)
    (await people.anonymous.call("POST", "/apikeys", json={})).problem(401)
    (await people.anonymous.call("DELETE", key)).problem(401)

    # Untouched: it still works, with its first secret.
    token = await exchanged_token(people.anonymous, issued["api_key"])
    assert jwt.get_unverified_claims(token)["sub"] == owner.user_id
    assert [k["id"] for k in (await owner.api.expect(200, "GET", "/apikeys")).json()] == [
        issued["id"]
    ]


async def test_expiry(people: People) -> None:
    person = await people.person()
    for expires in (
        in_future(minutes=-1),
        in_future(days=731),
        datetime.now(UTC).replace(tzinfo=None).isoformat(),
    ):
        answer = await person.api.call("POST", "/apikeys", json={"expires_utc": expires})
        answer.problem(422)
    assert (await person.api.expect(200, "GET", "/apikeys")).json() == []

    issued = await create_key(person, expires_utc=in_future(seconds=1.5))
    await exchanged_token(people.anonymous, issued["api_key"])
    await asyncio.sleep(1.6)
    (await exchange(people.anonymous, issued["api_key"])).problem(401)
    regenerated = await person.api.call("POST", f"/apikeys/{issued['id']}/regenerate")
    regenerated.problem(410)
    # Within two years is allowed; no expiry means until deleted.
    await create_key(person, expires_utc=in_future(days=729))
    assert (await create_key(person))["expires_utc"] is None


async def test_unknown_keys_are_refused(people: People) -> None:
    for wrong in ("apk_" + "A" * 43, "not a key at all", "rt_" + "x" * 43):
        answer = await exchange(people.anonymous, wrong)
        problem = answer.problem(401)
        assert wrong not in (problem.detail or "")
    (await people.anonymous.call("POST", "/tokens/exchange", json={})).problem(422)
    too_long = await exchange(people.anonymous, "apk_" + "x" * 300)
    too_long.problem(422)
    assert b"xxxxxxxx" not in too_long.body, "a refused key is not echoed"


async def test_a_page_of_keys(people: People) -> None:
    person = await people.person()
    created = [(await create_key(person, description=f"key {n}"))["id"] for n in range(5)]
    first = (await person.api.expect(200, "GET", "/apikeys", params={"limit": "2"})).json()
    rest = (
        await person.api.expect(200, "GET", "/apikeys", params={"limit": "10", "offset": "2"})
    ).json()
    assert [k["id"] for k in first + rest] == created
    (await person.api.call("GET", "/apikeys", params={"limit": "0"})).problem(422)


async def test_what_is_published(people: People, test_infra: TestInfra) -> None:
    async with Rabbit.connect(test_infra.amqp_url) as rabbit:
        created = await rabbit.watch("domain_events", ApiKeyCreated.event_type)
        deleted = await rabbit.watch("domain_events", ApiKeyDeleted.event_type)
        audited = await rabbit.watch("domain_events", AuditRecorded.event_type)
        person = await people.person()
        issued = await create_key(person, description="published")
        key = f"/apikeys/{issued['id']}"
        renewed = (await person.api.expect(200, "POST", key + "/regenerate")).json()
        await person.api.expect(204, "DELETE", key)

        def of_key(messages: list[Any]) -> list[Envelope]:
            envelopes = [Envelope.model_validate_json(m.body) for m in messages]
            return [
                e
                for e in envelopes
                if issued["id"] in (e.data.get("api_key_id"), e.data.get("target", "")[8:])
            ]

        await eventually(lambda: of_key(created) and of_key(deleted) and len(of_key(audited)) >= 3)
        await asyncio.sleep(0.3)
        [created_event], [deleted_event] = of_key(created), of_key(deleted)
        assert created_event.data == {
            "api_key_id": issued["id"],
            "user_id": person.user_id,
            "description": "published",
            "expires_utc": None,
        }
        assert deleted_event.data == {"api_key_id": issued["id"], "user_id": person.user_id}
        for envelope in (created_event, deleted_event):
            assert envelope.actor_id == person.user_id
            assert envelope.tenant_id == person.organization_id
        actions = sorted(e.data["action"] for e in of_key(audited))
        assert actions == [
            "identity.api_key_created",
            "identity.api_key_deleted",
            "identity.api_key_regenerated",
        ]
        published = b"".join(m.body for m in created + deleted + audited)
        for secret in (issued["api_key"], renewed["api_key"]):
            assert secret.encode() not in published
            assert hashlib.sha256(secret.encode()).hexdigest().encode() not in published
