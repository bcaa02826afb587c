"""The profiles service on the real MongoDB and RabbitMQ, called over HTTP by people the
session's identity registered: their UserRegistered published as identity's relay publishes
it, the default avatar looked up at the Gravatar simulator, avatars uploaded through a
stand-in of images; what it stores, answers and publishes, and to whom."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aio_pika.abc import AbstractIncomingMessage
from openapi_spec_validator import validate

from chassis.web.openapi import OPENAPI_KEY
from contracts import Envelope
from contracts import profiles as published
from contracts.identity import UserKind, UserRegistered
from contracts.images import ImageDeleted
from profiles.main import ProfilesSettings, create_app
from testkit.api import PlatformClient, Profile
from testkit.fixtures import EventProducer, TestInfra
from testkit.gravatar import GravatarSimulator, email_with_avatar, email_without_avatar
from testkit.identity import People, Person
from testkit.rabbit import Rabbit
from testkit.stored import Database
from testkit.waiting import eventually

from .conftest import PNG, ImagesServed

EXCHANGE = "domain_events"


@pytest.fixture
async def rabbit(test_infra: TestInfra, profiles_url: str) -> AsyncIterator[Rabbit]:
    # The running service has declared the exchange and its queues.
    async with Rabbit.connect(test_infra.amqp_url) as rabbit:
        yield rabbit


def registered(person: Person, **fields: Any) -> UserRegistered:
    details = {"first_name": "Ada", "last_name": "Lovelace", "timezone": "Europe/London"}
    return UserRegistered(
        user_id=person.user_id,
        kind=UserKind.PERSON,
        email=person.email,
        **{**details, **fields},
    )


def of_user(messages: list[AbstractIncomingMessage], user_id: str) -> list[Envelope]:
    envelopes = [Envelope.model_validate_json(m.body) for m in messages]
    return [e for e in envelopes if e.data.get("user_id") == user_id]


async def profile_of(person: Person, url: str, *, looked_up: bool = True) -> Profile:
    """The person's profile once it exists (and its avatar lookup is done)."""
    me = person.calling(url)

    async def made() -> Profile | None:
        answer = await me.call("GET", "/profiles/me")
        if answer.status != 200:
            return None
        profile = answer.parse(Profile)
        return profile if profile.avatar_lookup == "done" or not looked_up else None

    found: Profile = await eventually(made, timeout=15, interval=0.05)
    return found


@pytest.fixture
async def member(
    people: People, producer: EventProducer, profiles_url: str, images_served: ImagesServed
) -> Person:
    """A new person with a profile (no avatar found), whose token images takes."""
    person = await people.person(email_without_avatar())
    await producer.publish(registered(person), tenant_id=person.organization_id)
    await profile_of(person, profiles_url)
    images_served.service.callers[f"Bearer {person.access_token}"] = person.user_id
    return person


async def test_a_person_registered_gets_one_profile_with_their_gravatar(
    people: People,
    producer: EventProducer,
    rabbit: Rabbit,
    profiles_url: str,
    database: Database,
    gravatar: GravatarSimulator,
) -> None:
    created = await rabbit.watch(EXCHANGE, published.ProfileCreated.event_type)
    avatars = await rabbit.watch(EXCHANGE, published.AvatarChanged.event_type)
    person = await people.person(email_with_avatar())
    org = person.organization_id
    first = await producer.publish(registered(person), tenant_id=org, actor_id=person.user_id)
    # The same envelope again (a relay that crashed before marking it sent), and identity
    # telling it twice.
    await producer.resend(first)
    await producer.publish(registered(person, first_name="Other"), tenant_id=org)

    profile = await profile_of(person, profiles_url)
    digest = hashlib.sha256(person.email.encode()).hexdigest()
    assert (profile.user_id, profile.organization_id, profile.kind) == (
        person.user_id,
        org,
        "person",
    )
    assert (profile.display_name, profile.email, profile.timezone) == (
        "Ada Lovelace",
        person.email,
        "Europe/London",
    )
    assert profile.avatar is not None
    assert (profile.avatar.source, profile.avatar.image_id) == ("gravatar", None)
    assert profile.avatar.url == f"{gravatar.url}/avatar/{digest}?s=200"

    await asyncio.sleep(1.0)  # a second profile, or lookup, would show by now
    assert await database["profiles"].count_documents({"_id": person.user_id}) == 1
    [made] = of_user(created, person.user_id)
    assert (made.tenant_id, made.causation_id) == (org, str(first.id))
    assert len(await gravatar.requests_for(person.email)) == 1
    [shown] = of_user(avatars, person.user_id)
    assert shown.payload(published.AvatarChanged) == published.AvatarChanged(user_id=person.user_id)


async def test_a_machine_gets_a_profile_and_no_avatar_lookup(
    producer: EventProducer,
    someone: Person,
    operator: Person,
    profiles_url: str,
    database: Database,
) -> None:
    machine_id = uuid.uuid4().hex
    event = UserRegistered(user_id=machine_id, kind=UserKind.MACHINE, first_name="build-bot")
    await producer.publish(event, tenant_id=someone.organization_id)
    ops = operator.calling(profiles_url)

    async def made() -> bool:
        return (await ops.call("GET", f"/profiles/{machine_id}")).status == 200

    await eventually(made, timeout=15)
    profile = await ops.profile(machine_id)
    assert (profile.kind, profile.display_name, profile.avatar_lookup, profile.avatar) == (
        "machine",
        "build-bot",
        None,
        None,
    )


async def test_a_person_without_a_gravatar_has_no_avatar_and_gravatar_down_is_retried(
    people: People, producer: EventProducer, profiles_url: str, gravatar: GravatarSimulator
) -> None:
    faceless = await people.person(email_without_avatar())
    await producer.publish(registered(faceless), tenant_id=faceless.organization_id)
    assert (await profile_of(faceless, profiles_url)).avatar is None

    await gravatar.fail(503, times=2)
    pictured = await people.person(email_with_avatar())
    await producer.publish(registered(pictured), tenant_id=pictured.organization_id)
    profile = await profile_of(pictured, profiles_url)
    assert profile.avatar is not None and profile.avatar.source == "gravatar"
    assert len(await gravatar.requests_for(pictured.email)) == 3


async def test_the_user_changes_their_names_phone_time_zone_and_address(
    member: Person, profiles_url: str, rabbit: Rabbit
) -> None:
    changes = await rabbit.watch(EXCHANGE, published.ProfileChanged.event_type)
    addresses = await rabbit.watch(EXCHANGE, published.ContactAddressChanged.event_type)
    me = member.calling(profiles_url)
    profile = await me.change_profile(
        member.user_id, first_name="Augusta", phone_number="+44 20 7946 0958", timezone="Asia/Tokyo"
    )
    assert (profile.first_name, profile.display_name) == ("Augusta", "Augusta Lovelace")
    assert (profile.phone_number, profile.timezone) == ("+442079460958", "Asia/Tokyo")
    profile = await me.change_profile(member.user_id, phone_number=None, display_name="Countess")
    assert (profile.phone_number, profile.display_name) == (None, "Countess")
    profile = await me.change_contact(
        member.user_id, line1="10 Downing St", city="London", country_code="gb"
    )
    assert profile.contact is not None
    assert (profile.contact.country_code, profile.contact.line2) == ("GB", None)
    assert await me.my_profile() == profile

    async def told() -> list[Envelope]:
        return of_user(changes, member.user_id) if of_user(addresses, member.user_id) else []

    first, second = [e.payload(published.ProfileChanged) for e in await eventually(told)]
    assert first.fields == ["first_name", "display_name", "phone_number", "timezone"]
    assert second.fields == ["display_name", "phone_number"]
    [address] = of_user(addresses, member.user_id)
    assert address.payload(published.ContactAddressChanged).country_code == "GB"
    # Events say what changed, never the values.
    for envelope in [*of_user(changes, member.user_id), address]:
        assert "Augusta" not in envelope.model_dump_json()
        assert "Downing" not in envelope.model_dump_json()
        assert envelope.tenant_id == member.organization_id


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("", {"phone_number": "12345"}, "phone_number"),
        ("", {"timezone": "Europe/Atlantis"}, "timezone"),
        ("", {"first_name": None}, "first_name"),
        ("", {"nickname": "Ada"}, "nickname"),
        ("/contact", {"line1": "1 Main St", "city": "X", "country_code": "ZZ"}, "country_code"),
        ("/contact", {"line1": "1 Main St", "country_code": "US"}, "city"),
    ],
)
async def test_invalid_changes_are_422_naming_the_field_and_change_nothing(
    member: Person, profiles_url: str, path: str, body: dict[str, Any], field: str
) -> None:
    me = member.calling(profiles_url)
    before = await me.my_profile()
    answer = await me.call("PATCH", f"/profiles/{member.user_id}{path}", json=body)
    problem = answer.problem(422)
    assert problem.errors is not None and [e.field for e in problem.errors] == [field]
    assert await me.my_profile() == before


async def test_another_user_finds_no_profile_and_changes_nothing_an_operator_does(
    member: Person,
    person: Person,
    operator: Person,
    profiles_url: str,
    images_served: ImagesServed,
) -> None:
    before = await member.calling(profiles_url).my_profile()
    stranger = person.calling(profiles_url)
    path = f"/profiles/{member.user_id}"
    images_served.service.stored.clear()
    attempts: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "", {}),
        ("PATCH", "", {"json": {"first_name": "Eve"}}),
        ("PATCH", "/contact", {"json": {"line1": "1 A St", "city": "B", "country_code": "US"}}),
        ("PUT", "/avatar", {"data": PlatformClient.avatar_form(PNG)}),
        ("DELETE", "/avatar", {}),
    ]
    for method, suffix, kwargs in attempts:
        answer = await stranger.call(method, path + suffix, **kwargs)
        answer.problem(404)
    assert images_served.service.stored == {}
    assert (await stranger.call("GET", "/profiles/me")).status == 404
    assert await member.calling(profiles_url).my_profile() == before

    ops = operator.calling(profiles_url)
    assert (await ops.profile(member.user_id)).user_id == member.user_id
    changed = await ops.change_profile(member.user_id, last_name="Byron")
    assert changed.display_name == "Ada Byron"


async def test_an_uploaded_avatar_is_stored_through_images_replaced_and_removed(
    member: Person, profiles_url: str, rabbit: Rabbit, images_served: ImagesServed
) -> None:
    changed = await rabbit.watch(EXCHANGE, published.AvatarChanged.event_type)
    removed = await rabbit.watch(EXCHANGE, published.AvatarRemoved.event_type)
    me = member.calling(profiles_url)
    content = PNG + bytes(range(256)) * 4096
    first = await me.upload_avatar(member.user_id, content, filename="me.png")
    assert first.avatar is not None and first.avatar.image_id is not None
    assert (first.avatar.source, first.avatar.url) == (
        "upload",
        f"/images/{first.avatar.image_id}/download",
    )
    stored = images_served.service.stored[first.avatar.image_id]
    assert (stored["size"], stored["sha256"]) == (len(content), hashlib.sha256(content).hexdigest())
    assert (stored["avatar_of"], stored["description"]) == (member.user_id, "Avatar")
    assert stored["headers"]["Authorization"] == f"Bearer {member.access_token}"

    second = await me.upload_avatar(member.user_id, PNG + b"again")
    assert second.avatar is not None
    gone = await me.remove_avatar(member.user_id)
    assert gone.avatar is None and (await me.my_profile()).avatar is None

    async def told() -> list[Envelope]:
        return of_user(changed, member.user_id) if of_user(removed, member.user_id) else []

    events = [e.payload(published.AvatarChanged) for e in await eventually(told)]
    assert events == [
        published.AvatarChanged(user_id=member.user_id, image_id=first.avatar.image_id),
        published.AvatarChanged(
            user_id=member.user_id,
            image_id=second.avatar.image_id,
            previous_image_id=first.avatar.image_id,
        ),
    ]
    [removal] = of_user(removed, member.user_id)
    assert removal.payload(published.AvatarRemoved).image_id == second.avatar.image_id


async def test_uploads_images_refuses_come_back_as_its_problems(
    member: Person, profiles_url: str, images_served: ImagesServed
) -> None:
    me = member.calling(profiles_url)
    path = f"/profiles/{member.user_id}/avatar"
    answer = await me.call("PUT", path, data=PlatformClient.avatar_form(b"GIF-ish, not really"))
    assert "not a jpeg, png or gif" in (answer.problem(415).detail or "")
    answer = await me.call("PUT", path, json={"file": "nope"})
    answer.problem(415)
    elsewhere = aiohttp.FormData()
    elsewhere.add_field("picture", PNG, filename="a.png", content_type="image/png")
    no_file = await me.call("PUT", path, data=elsewhere)
    problem = no_file.problem(422)
    assert problem.errors is not None and problem.errors[0].field == "file"
    # Not a form: no closing boundary, or a part's header that is not HTTP.
    form = {"Content-Type": "multipart/form-data; boundary=zz"}
    bad_header = b'--zz\r\nContent-Disposition: form-data; name="\x01"\r\n\r\nx\r\n--zz--\r\n'
    for body in (b"garbage", bad_header):
        answer = await me.call("PUT", path, data=body, headers=form)
        assert "not valid multipart/form-data" in (answer.problem(400).detail or "")
    images_served.service.fail_with = 502
    try:
        (await me.call("PUT", path, data=PlatformClient.avatar_form(PNG))).problem(503)
    finally:
        images_served.service.fail_with = None
    assert (await me.my_profile()).avatar is None


async def test_an_avatar_whose_image_is_deleted_is_cleared(
    member: Person, producer: EventProducer, profiles_url: str
) -> None:
    me = member.calling(profiles_url)
    shown = await me.upload_avatar(member.user_id, PNG)
    assert shown.avatar is not None and shown.avatar.image_id is not None
    deleted = ImageDeleted(image_id=shown.avatar.image_id, avatar_of=member.user_id)
    await producer.publish(deleted, tenant_id="another-organization")

    async def cleared() -> bool:
        return (await me.my_profile()).avatar is None

    await eventually(cleared, timeout=15)


def test_the_routes_are_documented_as_served() -> None:
    # Built, never started: nothing connects.
    document = create_app(ProfilesSettings(log_level="WARNING"))[OPENAPI_KEY]
    validate(document)
    routes = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert {r for r in routes if r[1].startswith("/profiles")} == {
        ("GET", "/profiles/me"),
        ("GET", "/profiles/{user_id}"),
        ("PATCH", "/profiles/{user_id}"),
        ("PATCH", "/profiles/{user_id}/contact"),
        ("PUT", "/profiles/{user_id}/avatar"),
        ("DELETE", "/profiles/{user_id}/avatar"),
    }
    assert all(
        document["paths"][path][method.lower()]["security"]
        for method, path in routes
        if path.startswith("/profiles")
    )
