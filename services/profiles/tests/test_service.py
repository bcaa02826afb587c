"""The profiles use cases on the in-memory unit of work: what is stored, answered and
published; who may see and change a profile; Gravatar and images as stand-ins."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from chassis.errors import Unavailable
from chassis.messaging.delivery import PoisonMessage
from chassis.messaging.subscriptions import context_of
from chassis.web.auth import Caller
from contracts import Envelope
from contracts import profiles as published
from contracts.audits import AuditRecorded
from contracts.identity import UserKind, UserRegistered
from contracts.images import ImageDeleted
from contracts.roles import PlatformRole
from contracts.usages import UsageRecorded
from profiles.domain import AvatarSource, ContactAddress, Lookup, ProfileEdit
from profiles.service import ProfileNotFound, ProfileService, Upload

from .conftest import FakeFinder, FakeImages, ProfilesUoW

ORG = "org1"


def registered(user_id: str, email: str | None = "ada@example.com") -> UserRegistered:
    return UserRegistered(
        user_id=user_id,
        kind=UserKind.PERSON,
        email=email,
        first_name="Ada",
        last_name="Lovelace",
        timezone="Europe/London",
    )


def caller(user_id: str, *, operator: bool = False) -> Caller:
    roles = {PlatformRole.STANDARD} | ({PlatformRole.OPERATIONS} if operator else set())
    return Caller(user_id, "some-org", frozenset(roles))


async def register(uow: ProfilesUoW, profiles: ProfileService, user_id: str) -> None:
    await uow.deliver(profiles.user_registered, registered(user_id), tenant_id=ORG)


async def created(uow: ProfilesUoW, profiles: ProfileService, user_id: str) -> None:
    """The service's own ProfileCreated, handed to it as its queue hands it over."""
    [event] = [e for e in uow.published if e.type == published.ProfileCreated.event_type]
    envelope = Envelope.model_validate_json(event.model_dump_json())
    await profiles.profile_created(envelope.payload(published.ProfileCreated), context_of(envelope))


async def chunks(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def test_a_registered_user_gets_one_profile_for_their_organization(
    uow: ProfilesUoW, profiles: ProfileService
) -> None:
    await register(uow, profiles, "u1")
    await register(uow, profiles, "u1")
    profile = uow.state.profiles["u1"]
    assert (profile.tenant_id, profile.display_name, profile.email) == (
        ORG,
        "Ada Lovelace",
        "ada@example.com",
    )
    assert uow.events(published.ProfileCreated) == [
        published.ProfileCreated(user_id="u1", kind=UserKind.PERSON)
    ]
    [envelope] = [e for e in uow.published if e.type == published.ProfileCreated.event_type]
    assert envelope.tenant_id == ORG
    assert [a.target for a in uow.events(AuditRecorded)] == ["profile:u1"]
    assert uow.events(UsageRecorded)[0].properties == {"kind": "person"}


async def test_a_machine_gets_a_profile_named_after_it(
    uow: ProfilesUoW, profiles: ProfileService
) -> None:
    machine = UserRegistered(user_id="m1", kind=UserKind.MACHINE, first_name="build-bot")
    await uow.deliver(profiles.user_registered, machine, tenant_id=ORG)
    profile = uow.state.profiles["m1"]
    assert (profile.display_name, profile.avatar_lookup) == ("build-bot", None)


async def test_a_user_registered_with_no_organization_is_refused_for_good(
    uow: ProfilesUoW, profiles: ProfileService
) -> None:
    with pytest.raises(PoisonMessage):
        await uow.deliver(profiles.user_registered, registered("u1"), tenant_id=None)
    assert uow.state.profiles == {}


async def test_a_found_default_avatar_is_shown_and_the_lookup_done_once(
    uow: ProfilesUoW, profiles: ProfileService, finder: FakeFinder
) -> None:
    finder.avatars["ada@example.com"] = "https://gravatar.example/avatar/abc?s=200"
    await register(uow, profiles, "u1")
    await created(uow, profiles, "u1")
    await created(uow, profiles, "u1")
    profile = uow.state.profiles["u1"]
    assert profile.avatar is not None and profile.avatar.source is AvatarSource.GRAVATAR
    assert profile.avatar.url == "https://gravatar.example/avatar/abc?s=200"
    assert profile.avatar_lookup is Lookup.DONE
    assert finder.asked == ["ada@example.com"]
    assert uow.events(published.AvatarChanged) == [published.AvatarChanged(user_id="u1")]
    [changed] = [e for e in uow.published if e.type == published.AvatarChanged.event_type]
    assert changed.tenant_id == ORG


async def test_no_default_avatar_ends_the_lookup_with_nothing_published(
    uow: ProfilesUoW, profiles: ProfileService, finder: FakeFinder
) -> None:
    await register(uow, profiles, "u1")
    await created(uow, profiles, "u1")
    assert uow.state.profiles["u1"].avatar_lookup is Lookup.DONE
    assert uow.state.profiles["u1"].avatar is None
    assert uow.events(published.AvatarChanged) == []


async def test_gravatar_down_leaves_the_lookup_pending_for_a_retry(
    uow: ProfilesUoW, profiles: ProfileService, finder: FakeFinder
) -> None:
    await register(uow, profiles, "u1")
    finder.down = True
    with pytest.raises(Unavailable):
        await created(uow, profiles, "u1")
    assert uow.state.profiles["u1"].avatar_lookup is Lookup.PENDING
    finder.down = False
    finder.avatars["ada@example.com"] = "https://gravatar.example/avatar/abc"
    await created(uow, profiles, "u1")
    assert uow.state.profiles["u1"].avatar is not None


async def test_an_upload_during_the_lookup_wins_over_what_it_finds(
    uow: ProfilesUoW, profiles: ProfileService, finder: FakeFinder
) -> None:
    await register(uow, profiles, "u1")
    finder.avatars["ada@example.com"] = "https://gravatar.example/avatar/abc"
    upload = Upload("me.png", "image/png", chunks(b"png"))
    shown = await profiles.upload_avatar(caller("u1"), "u1", upload, "Bearer t")
    await created(uow, profiles, "u1")
    profile = uow.state.profiles["u1"]
    assert profile.avatar == shown.avatar and profile.avatar_lookup is Lookup.DONE


async def test_the_user_changes_their_profile_and_the_event_names_the_fields(
    uow: ProfilesUoW, profiles: ProfileService
) -> None:
    await register(uow, profiles, "u1")
    edit = ProfileEdit(display_name="Countess", phone_number="+14155552671")
    profile = await profiles.change(caller("u1"), "u1", edit)
    assert (profile.display_name, profile.phone_number) == ("Countess", "+14155552671")
    assert uow.state.profiles["u1"].display_name == "Countess"
    assert uow.events(published.ProfileChanged) == [
        published.ProfileChanged(user_id="u1", fields=["display_name", "phone_number"])
    ]
    [changed] = [e for e in uow.published if e.type == published.ProfileChanged.event_type]
    # For the profile's organization, not the one the caller's token acts for.
    assert (changed.tenant_id, changed.actor_id) == (ORG, "u1")
    assert uow.events(UsageRecorded)[-1].properties == {"fields": "display_name,phone_number"}


async def test_an_operator_changes_anyone_s_contact_address(
    uow: ProfilesUoW, profiles: ProfileService
) -> None:
    await register(uow, profiles, "u1")
    address = ContactAddress("1 Infinite Loop", "Cupertino", "us", state="CA", zip="95014")
    profile = await profiles.change_contact(caller("op", operator=True), "u1", address)
    assert profile.contact == ContactAddress(
        "1 Infinite Loop", "Cupertino", "US", None, "CA", "95014"
    )
    assert uow.events(published.ContactAddressChanged) == [
        published.ContactAddressChanged(user_id="u1", country_code="US")
    ]


async def test_anyone_else_finds_no_profile_and_changes_nothing(
    uow: ProfilesUoW, profiles: ProfileService, images: FakeImages
) -> None:
    await register(uow, profiles, "u1")
    commits = uow.commits
    other = caller("u2")
    with pytest.raises(ProfileNotFound):
        await profiles.profile(other, "u1")
    with pytest.raises(ProfileNotFound):
        await profiles.change(other, "u1", ProfileEdit(first_name="Eve"))
    with pytest.raises(ProfileNotFound):
        await profiles.upload_avatar(other, "u1", Upload(None, None, chunks(b"x")), "Bearer t")
    with pytest.raises(ProfileNotFound):
        await profiles.remove_avatar(other, "u1")
    with pytest.raises(ProfileNotFound):
        await profiles.profile(caller("nobody"), "nobody")
    assert (uow.commits, images.images) == (commits, {})
    assert uow.state.profiles["u1"].first_name == "Ada"


async def test_an_invalid_change_stores_nothing(uow: ProfilesUoW, profiles: ProfileService) -> None:
    await register(uow, profiles, "u1")
    published_before = len(uow.published)
    with pytest.raises(ValueError, match="time zone"):
        await profiles.change(caller("u1"), "u1", ProfileEdit(first_name="Eve", timezone="Nowhere"))
    assert uow.state.profiles["u1"].first_name == "Ada"
    assert len(uow.published) == published_before


async def test_an_uploaded_avatar_is_stored_through_images_and_replaces_the_last(
    uow: ProfilesUoW, profiles: ProfileService, images: FakeImages
) -> None:
    await register(uow, profiles, "u1")
    first = await profiles.upload_avatar(
        caller("u1"), "u1", Upload("a.png", "image/png", chunks(b"one", b"two")), "Bearer t"
    )
    assert first.avatar is not None and first.avatar.image_id is not None
    stored = images.images[first.avatar.image_id]
    assert (stored.user_id, stored.content, stored.filename, stored.authorization) == (
        "u1",
        b"onetwo",
        "a.png",
        "Bearer t",
    )
    assert first.avatar.url == f"/images/{first.avatar.image_id}/download"
    second = await profiles.upload_avatar(
        caller("u1"), "u1", Upload("b.gif", "image/gif", chunks(b"gif")), "Bearer t"
    )
    assert second.avatar is not None
    assert uow.events(published.AvatarChanged) == [
        published.AvatarChanged(user_id="u1", image_id=first.avatar.image_id),
        published.AvatarChanged(
            user_id="u1", image_id=second.avatar.image_id, previous_image_id=first.avatar.image_id
        ),
    ]


async def test_an_upload_whose_profile_cannot_be_changed_deletes_its_image(
    uow: ProfilesUoW, profiles: ProfileService, images: FakeImages
) -> None:
    await register(uow, profiles, "u1")

    async def profile_gone() -> AsyncIterator[bytes]:
        # The profile is gone once the image is stored: showing it fails.
        del uow.state.profiles["u1"]
        yield b"png"

    with pytest.raises(ProfileNotFound):
        await profiles.upload_avatar(
            caller("u1"), "u1", Upload("a.png", "image/png", profile_gone()), "Bearer t"
        )
    [image_id] = images.images
    assert images.deleted == [image_id]


async def test_removing_the_avatar_tells_images_which_image_to_delete(
    uow: ProfilesUoW, profiles: ProfileService
) -> None:
    await register(uow, profiles, "u1")
    shown = await profiles.upload_avatar(
        caller("u1"), "u1", Upload("a.png", "image/png", chunks(b"png")), "Bearer t"
    )
    assert shown.avatar is not None
    profile = await profiles.remove_avatar(caller("u1"), "u1")
    assert profile.avatar is None and uow.state.profiles["u1"].avatar is None
    assert uow.events(published.AvatarRemoved) == [
        published.AvatarRemoved(user_id="u1", image_id=shown.avatar.image_id)
    ]


async def test_a_deleted_image_clears_the_avatar_showing_it(
    uow: ProfilesUoW, profiles: ProfileService
) -> None:
    await register(uow, profiles, "u1")
    shown = await profiles.upload_avatar(
        caller("u1"), "u1", Upload("a.png", "image/png", chunks(b"png")), "Bearer t"
    )
    assert shown.avatar is not None and shown.avatar.image_id is not None
    other = uuid.uuid4().hex
    await uow.deliver(profiles.image_deleted, ImageDeleted(image_id=other), tenant_id="org2")
    assert uow.state.profiles["u1"].avatar == shown.avatar
    # Images keeps it under the organization its uploader acted for, not the profile's.
    deleted = ImageDeleted(image_id=shown.avatar.image_id, avatar_of="u1")
    await uow.deliver(profiles.image_deleted, deleted, tenant_id="org2")
    assert uow.state.profiles["u1"].avatar is None
    assert uow.events(published.AvatarRemoved) == [published.AvatarRemoved(user_id="u1")]
    [audit] = [a for a in uow.events(AuditRecorded) if a.action == "profiles.avatar_removed"]
    assert audit.detail == "its image was deleted"
