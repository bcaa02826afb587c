"""Invitations over HTTP on the real MongoDB and RabbitMQ: invite, verify, register with the
token (joining the organization, confirmed at once when it is the invited address), resend,
expiry, acceptance once, owners only; members added by email."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

from identity.main import IdentitySettings, create_app
from testkit.api import Answer, PlatformClient
from testkit.identity import Mailbag, People, Person, new_email
from testkit.stored import Database
from testkit.web import serving


@dataclass
class Company:
    owner: Person
    organization_id: str
    # The owner's API acting for the company: invitations go to the token's organization.
    api: PlatformClient


async def acting_for(people: People, person: Person, organization_id: str) -> PlatformClient:
    """`person`'s API with a token acting for `organization_id`."""
    await person.api.expect(
        200, "PUT", "/users/me/default-organization", json={"organization_id": organization_id}
    )
    refreshed = await people.anonymous.expect(
        200, "POST", "/tokens/refresh", json={"refresh_token": person.tokens["refresh_token"]}
    )
    person.tokens = refreshed.json()
    return people.anonymous.as_caller(person.access_token)


async def company(people: People, name: str = "Acme") -> Company:
    owner = await people.person()
    created = await owner.api.expect(201, "POST", "/organizations", json={"name": name})
    organization_id = created.json()["id"]
    return Company(owner, organization_id, await acting_for(people, owner, organization_id))


async def invite(api: PlatformClient, email: str, **names: str) -> dict[str, str]:
    answer = await api.expect(201, "POST", "/invitations", json={"email": email, **names})
    return dict(answer.json())


async def verify(anonymous: PlatformClient, token: str) -> Answer:
    return await anonymous.call("POST", "/invitations/verify", json={"token": token})


async def test_a_guest_is_invited_and_registers_with_the_token(
    people: People, mail: Mailbag, database: Database
) -> None:
    acme = await company(people, "Acme Rockets")
    guest = new_email("guest")
    invitation = await invite(acme.api, guest, first_name="Grace", last_name="Hopper")
    assert invitation["email"] == guest and invitation["organization_id"] == acme.organization_id
    assert set(invitation) == {"id", "email", "organization_id", "expires_utc"}

    token = await mail.token(guest, "invitation")
    [email] = mail.sent(guest, "invitation")
    assert email.message.model_dump() == {
        "template": "invitation",
        "inviter_name": "Ada Lovelace",
        "organization_name": "Acme Rockets",
        "token": token,
    }
    verified = await verify(people.anonymous, token)
    assert verified.status == 200, verified.body
    assert verified.json() == {
        "email": guest,
        "first_name": "Grace",
        "last_name": "Hopper",
        "organization_name": "Acme Rockets",
    }

    registered = await people.register(guest, invitation_token=token)
    assert registered.status == 201, registered.body
    user = registered.json()
    assert {m["organization_id"]: m["roles"] for m in user["memberships"]} == {
        user["default_organization_id"]: ["billing_admin", "member", "owner"],
        acme.organization_id: ["member"],
    }
    # The token came through the invited mailbox: the address is proven, no email needed.
    login = await people.login(guest)
    assert login.status == 200, login.body
    members = await acme.api.expect(200, "GET", f"/organizations/{acme.organization_id}/members")
    assert {m["email"]: m["roles"] for m in members.json()}[guest] == ["member"]
    stored = await database["invitations"].find_one({"_id": invitation["id"]})
    assert stored is not None and stored["status"] == "accepted"
    assert stored["accepted_by"] == user["id"] and token not in str(stored)

    accepted = await verify(people.anonymous, token)
    assert accepted.status == 409 and "accepted" in accepted.json()["detail"]
    again = await people.register(new_email(), invitation_token=token)
    assert again.status == 409
    assert mail.sent(guest, "registration_confirmation") == []


async def test_registering_another_address_with_the_token_needs_its_confirmation(
    people: People, mail: Mailbag
) -> None:
    acme = await company(people)
    guest, other = new_email("guest"), new_email("other")
    await invite(acme.api, guest)
    token = await mail.token(guest, "invitation")
    registered = await people.register(other, invitation_token=token)
    assert registered.status == 201, registered.body
    memberships = {m["organization_id"] for m in registered.json()["memberships"]}
    assert acme.organization_id in memberships
    assert (await people.login(other)).status == 403, "the other address is not proven yet"
    await people.confirm(other)
    assert (await people.login(other)).status == 200


async def test_a_resend_replaces_the_token(
    people: People, mail: Mailbag, database: Database
) -> None:
    acme = await company(people)
    guest = new_email("guest")
    invitation = await invite(acme.api, guest)
    old = await mail.token(guest, "invitation")
    stranger = await people.person()
    refused = await stranger.api.call("POST", f"/invitations/{invitation['id']}/resend")
    assert refused.status == 404, "to anyone outside its organization it does not exist"

    resent = await acme.api.expect(200, "POST", f"/invitations/{invitation['id']}/resend")
    assert resent.json()["id"] == invitation["id"]
    assert resent.json()["expires_utc"] > invitation["expires_utc"]
    new = await mail.token(guest, "invitation", 2)
    assert new != old
    assert (await verify(people.anonymous, old)).status == 404

    users = await database["users"].count_documents({})
    refused_registration = await people.register(guest, invitation_token=old)
    assert refused_registration.status == 404
    assert await database["users"].count_documents({}) == users, "nothing stored"
    assert (await verify(people.anonymous, new)).status == 200
    assert (await people.register(guest, invitation_token=new)).status == 201


async def test_an_expired_invitation(
    people: People, mail: Mailbag, database: Database, settings: IdentitySettings
) -> None:
    acme = await company(people)
    guest = new_email("guest")
    # A second instance whose invitations expire in half a second (same database and keys).
    short = settings.model_copy(update={"invitation_days": 0.5 / 86400})
    async with serving(create_app(short)) as url, aiohttp.ClientSession() as http:
        hurried = PlatformClient(http, url, acme.owner.access_token)
        await invite(hurried, guest)
    token = await mail.token(guest, "invitation")
    await asyncio.sleep(0.6)

    expired = await verify(people.anonymous, token)
    assert expired.status == 410 and "expired" in expired.json()["detail"]
    refused = await people.register(guest, invitation_token=token)
    assert refused.status == 410
    assert await database["users"].find_one({"email": guest}) is None
    assert await database["credentials"].find_one({"email": guest}) is None


async def test_only_owners_invite(people: People, mail: Mailbag) -> None:
    acme = await company(people)
    member = await people.person()
    await acme.api.expect(
        201,
        "POST",
        f"/organizations/{acme.organization_id}/members",
        json={"user_id": member.user_id},
    )
    as_member = await acting_for(people, member, acme.organization_id)
    guest = new_email("guest")
    refused = await as_member.call("POST", "/invitations", json={"email": guest})
    assert refused.status == 403
    personal = await member.api.call("POST", "/invitations", json={"email": guest})
    assert personal.status == 403, "a personal organization has no other members"
    await asyncio.sleep(0.3)
    assert mail.sent(guest, "invitation") == []


async def test_one_pending_invitation_per_address_and_none_for_a_registered_one(
    people: People,
) -> None:
    acme = await company(people)
    guest = new_email("guest")
    first = await invite(acme.api, guest)
    twice = await acme.api.call("POST", "/invitations", json={"email": guest.upper()})
    assert twice.status == 409 and first["id"] in twice.json()["detail"]
    registered = await people.person()
    answer = await acme.api.call("POST", "/invitations", json={"email": registered.email})
    assert answer.status == 409 and "/members" in answer.json()["detail"]


async def test_an_unknown_token(anonymous: PlatformClient) -> None:
    assert (await verify(anonymous, "inv_" + "x" * 43)).status == 404


async def test_members_by_email(people: People, mail: Mailbag) -> None:
    acme = await company(people)
    members = f"/organizations/{acme.organization_id}/members"
    existing = await people.person()
    joined = await acme.owner.api.expect(201, "POST", members, json={"email": existing.email})
    assert joined.json()["user_id"] == existing.user_id and joined.json()["roles"] == ["member"]

    guest = new_email("guest")
    invited = await acme.owner.api.expect(202, "POST", members, json={"email": guest})
    assert invited.json()["email"] == guest
    token = await mail.token(guest, "invitation")
    assert (await people.register(guest, invitation_token=token)).status == 201
    listed = (await acme.owner.api.expect(200, "GET", members)).json()
    assert {m["email"] for m in listed} == {acme.owner.email, existing.email, guest}

    both = {"email": guest, "user_id": existing.user_id}
    assert (await acme.owner.api.call("POST", members, json=both)).status == 422
    assert (await acme.owner.api.call("POST", members, json={})).status == 422
    outsider = await people.person()
    refused = await outsider.api.call("POST", members, json={"email": new_email()})
    assert refused.status == 403
