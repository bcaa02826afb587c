"""User profiles through the gateway: made by themselves when a person registers, with the
avatar the Gravatar simulator (its own process) has for their address; changed by their user;
an avatar uploaded through images (kept on the S3 server), downloaded by anyone, and deleted
with its image when it is replaced or removed."""

from __future__ import annotations

from devstack.simulators import Simulator
from devstack.system import LOCALHOST
from testkit.api import PlatformClient, Profile
from testkit.gravatar import email_with_avatar, email_without_avatar
from testkit.identity import People, Person
from testkit.images import gif, png
from testkit.s3 import S3Bucket
from testkit.waiting import eventually


async def looked_up(person: Person) -> Profile:
    """The person's profile once its default avatar has been looked for."""

    async def done() -> Profile | None:
        answer = await person.api.call("GET", "/profiles/me")
        if answer.status == 404:
            return None
        profile = answer.parse(Profile)
        return profile if profile.avatar_lookup == "done" else None

    found: Profile = await eventually(done, timeout=15, interval=0.1)
    return found


async def test_a_registered_person_gets_a_profile_with_their_gravatar(
    people: People, gravatar: Simulator
) -> None:
    pictured = await people.person(email_with_avatar())
    profile = await looked_up(pictured)
    assert (profile.user_id, profile.kind, profile.email) == (
        pictured.user_id,
        "person",
        pictured.email,
    )
    assert profile.organization_id == pictured.organization_id
    assert profile.avatar is not None and profile.avatar.source == "gravatar"
    assert profile.avatar.url.startswith(gravatar.client_env(LOCALHOST)["GRAVATAR_URL"])

    faceless = await people.person(email_without_avatar())
    assert (await looked_up(faceless)).avatar is None


async def test_its_user_changes_names_phone_time_zone_and_address(people: People) -> None:
    person = await people.person()
    await looked_up(person)
    api, me = person.api, person.user_id
    changed = await api.change_profile(
        me,
        first_name="Grace",
        last_name="Hopper",
        display_name="Amazing Grace",
        phone_number="+44 20 7946 0958",
        timezone="Europe/London",
    )
    assert (changed.first_name, changed.last_name, changed.display_name) == (
        "Grace",
        "Hopper",
        "Amazing Grace",
    )
    assert (changed.phone_number, changed.timezone) == ("+442079460958", "Europe/London")
    address = {"line1": "1 Main St", "city": "Leeds", "country_code": "GB", "zip": "LS1 1AA"}
    await api.change_contact(me, **address)
    mine = await api.my_profile()
    assert mine.contact is not None
    assert (mine.contact.line1, mine.contact.city, mine.contact.country_code) == (
        "1 Main St",
        "Leeds",
        "GB",
    )
    assert mine.phone_number == "+442079460958" and mine.timezone == "Europe/London"

    for field, value in [("phone_number", "12345"), ("timezone", "Mars/Olympus")]:
        problem = (await api.call("PATCH", f"/profiles/{me}", json={field: value})).problem(422)
        assert [e.field for e in problem.errors or []] == [field]
    bad_country = {**address, "country_code": "XX"}
    (await api.call("PATCH", f"/profiles/{me}/contact", json=bad_country)).problem(422)
    assert await api.my_profile() == mine


async def test_an_avatar_is_set_downloaded_by_anyone_replaced_and_removed_with_its_image(
    people: People, anonymous: PlatformClient, bucket: S3Bucket
) -> None:
    person = await people.person(email_with_avatar())
    await looked_up(person)
    api, me = person.api, person.user_id

    first = await api.upload_avatar(me, png((48, 48)))
    assert first.avatar is not None and first.avatar.source == "upload"
    first_id = str(first.avatar.image_id)
    assert first.avatar.url == f"/images/{first_id}/download"
    download = await anonymous.call("GET", first.avatar.url)
    assert download.status == 200 and download.body == png((48, 48))
    assert download.headers["Content-Type"] == "image/png"

    second = await api.upload_avatar(me, gif(), filename="me.gif", content_type="image/gif")
    assert second.avatar is not None and second.avatar.image_id != first_id
    second_id = str(second.avatar.image_id)

    async def gone(image_id: str) -> bool:
        answer = await anonymous.call("GET", f"/images/{image_id}/download")
        keys = bucket.keys(f"{person.organization_id}/{image_id}")
        return answer.status == 404 and keys == []

    await eventually(lambda: gone(first_id), timeout=15, interval=0.1)
    assert (await anonymous.call("GET", f"/images/{second_id}/download")).status == 200

    removed = await api.remove_avatar(me)
    assert removed.avatar is None
    await eventually(lambda: gone(second_id), timeout=15, interval=0.1)
    (await api.call("GET", f"/images/{second_id}")).problem(404)
    assert (await api.my_profile()).avatar is None


async def test_what_is_not_an_image_is_refused_as_images_refuses_it(people: People) -> None:
    person = await people.person()
    before = await looked_up(person)
    answer = await person.api.call(
        "PUT",
        f"/profiles/{person.user_id}/avatar",
        data=person.api.avatar_form(b"not an image at all", filename="me.png"),
    )
    assert "not a JPEG, PNG or GIF" in (answer.problem(415).detail or "")
    assert await person.api.my_profile() == before


async def test_only_the_user_or_an_operator_sees_or_changes_a_profile(
    people: People, operator: Person
) -> None:
    person, other = await people.person(), await people.person()
    await looked_up(person)
    path = f"/profiles/{person.user_id}"
    (await other.api.call("GET", path)).problem(404)
    (await other.api.call("PATCH", path, json={"first_name": "Mallory"})).problem(404)
    (await other.api.call("DELETE", f"{path}/avatar")).problem(404)
    assert (await operator.api.profile(person.user_id)).user_id == person.user_id
    helped = await operator.api.change_profile(person.user_id, timezone="Asia/Tokyo")
    assert helped.timezone == "Asia/Tokyo"
    assert (await person.api.my_profile()).first_name == "Ada"
